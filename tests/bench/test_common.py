"""The benchmarks time the model SER_BENCH_MODEL names, else the shipped one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.common import SHIPPED_MODEL, model_path


def test_ser_bench_model_names_the_model_to_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not read here")
    monkeypatch.setenv("SER_BENCH_MODEL", str(other))
    path, description = model_path()
    assert path == other and "SER_BENCH_MODEL" in description
    monkeypatch.setenv("SER_BENCH_MODEL", str(tmp_path / "missing.onnx"))
    with pytest.raises(SystemExit, match="no such model file"):
        model_path()
    monkeypatch.delenv("SER_BENCH_MODEL")
    if SHIPPED_MODEL.is_file():
        assert model_path()[0] == SHIPPED_MODEL


def test_a_report_is_the_result_as_json_and_a_titled_markdown_table(tmp_path: Path) -> None:
    from bench.common import write_report

    result = {"protocol": "p", "date": "d", "machine": "m", "command": "c", "table": {"x": 1}}
    write_report("r", result, "Title", "| a | b |", ["| 1 | 2 |"], folder=tmp_path)
    assert json.loads((tmp_path / "r.json").read_text()) == result
    assert (
        tmp_path / "r.md"
    ).read_text() == "# Title\n\np\n\nd, m, `c`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
