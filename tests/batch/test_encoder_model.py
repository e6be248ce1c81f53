"""ser-batch with a Model v3 graph: its scoring gives the API classifier's numbers, and a graph
whose encoder does not match its metadata stops the job before any work, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ser_batch.cli import app
from ser_encoders import EncoderSpec
from ser_inference import EmotionClassifier
from tests.batch.conftest import make_archive
from tests.batch.test_scoring import _assert_parity
from tests.support.v3_model import with_encoder_section, with_tampered_encoder_weight

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow


def test_a_v3_model_scores_files_as_the_api_classifier_does(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    files = make_archive(tmp_path, n_good=3)  # WAV at 16, 44.1 and 48 kHz, and an M4A
    paths = [str(files[f"good{i}"]) for i in range(3)] + [str(files["memo"])]
    rows = _assert_parity(EmotionClassifier.load(tiny_v3_model), paths)
    assert [row["model_version"] for row in rows] == ["tiny-v3-test"] * 4
    assert all(row["error"] is None for row in rows)


@pytest.mark.parametrize("fault", ["tampered", "no-section"])
def test_ser_batch_refuses_a_mismatched_v3_model_before_any_work(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path, fault: str
) -> None:
    model = tmp_path / f"{fault}.onnx"
    if fault == "tampered":
        with_tampered_encoder_weight(tiny_v3_model, model)
    else:
        with_encoder_section(tiny_v3_model, model, lambda section: None)
    archive = tmp_path / "archive"
    make_archive(archive, n_good=1)
    out = tmp_path / "r.parquet"
    result = CliRunner().invoke(app, [str(archive), "--out", str(out), "--model", str(model)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    reason = {
        "tampered": "the encoder weights in its graph have sha256",
        "no-section": "has no 'encoder' section",
    }[fault]
    assert line.startswith(f"ser-batch: model {model}") and reason in line, line
    assert not out.exists() and not Path(f"{out}.parts").exists()
