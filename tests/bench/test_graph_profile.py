"""``python -m bench.graph_profile`` (``make profile``) really profiles: ONNX Runtime's node
times of a v3-shaped graph summed by operator type, and a 3-s request's stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.graph_profile import cpu_flags, main
from ser_encoders import EncoderSpec

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow


def test_the_profile_times_every_operator_of_the_graph_and_each_stage(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SER_BENCH_MODEL", str(tiny_v3_model))
    result = main(["--runs", "3", "--out", str(tmp_path)])
    nodes, stages = result["table"]["nodes"], result["table"]["stages"]
    # The graph as ONNX Runtime runs it, after its fusions: attention's products and softmax.
    assert "Softmax" in nodes["by_op"] and any("MatMul" in op for op in nodes["by_op"])
    assert sum(cell["share"] for cell in nodes["by_op"].values()) == pytest.approx(1, abs=1e-3)
    assert nodes["model_run_ms"] > 0
    assert stages["windows"] >= 1 and stages["decode_ms"] > 0 and stages["graph_ms"] > 0
    assert stages["features_ms"] > 0 and stages["http_in_process_ms"] > 0
    written = json.loads((tmp_path / "graph_profile.json").read_text())
    assert written["table"] == result["table"] and "flags:" in written["machine"]
    assert "| node: MatMul |" in (tmp_path / "graph_profile.md").read_text()
    with pytest.raises(SystemExit):
        main(["--runs", "0", "--out", str(tmp_path)])


def test_cpu_flags_names_the_vector_extensions_present(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: X\nflags\t\t: fpu sse4_2 avx2 fma avx512f\n")
    assert cpu_flags(cpuinfo) == ["sse4_2", "avx2", "fma", "avx512f"]
    assert cpu_flags(tmp_path / "absent") == []
