"""`ser-train score`: an exported model scored on a corpus through the served classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from ser_features import EMOTIONS
from ser_training.cli import app
from tests.support.tiny_model import build_tiny_model, tiny_metadata
from tests.training.conftest import make_nemo


def test_a_corpus_without_disgust_is_scored_on_its_own_labels(tmp_path: Path) -> None:
    # A model that always prefers disgust, then angry: on nEMO (no disgust) it must answer
    # angry every time, right on exactly the angry sixth of the files.
    logits = np.zeros(len(EMOTIONS))
    logits[EMOTIONS.index("disgust")], logits[EMOTIONS.index("angry")] = 5.0, 3.0
    model = build_tiny_model(tmp_path / "m.onnx", tiny_metadata(), logits=logits)
    make_nemo(tmp_path / "data" / "nemo")
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(
        app, ["score", "nemo", "--model", str(model), "--data", str(tmp_path / "data"),
              "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert scores["n"] == scores["n_files"] == 30 and not scores["unscorable"]
    assert scores["prediction_distribution"] == {e: 30 * (e == "angry") for e in EMOTIONS}
    assert scores["accuracy"] == 5 / 30
    assert scores["by_speakers"]["test_speakers"]["speakers"] == ["EB0", "KS0"]
    assert "accuracy 0.167" in result.output


def test_a_missing_corpus_or_model_fails_with_a_reason(tmp_path: Path) -> None:
    make_nemo(tmp_path / "data" / "nemo", speakers=("EB0",))
    runner = CliRunner()
    result = runner.invoke(app, ["score", "emodb", "--data", str(tmp_path / "data")])
    assert result.exit_code == 1 and "no folder for ['emodb']" in result.output
    result = runner.invoke(
        app, ["score", "nemo", "--model", str(tmp_path / "none.onnx"), "--data",
              str(tmp_path / "data")],
    )  # fmt: skip
    assert result.exit_code == 1 and "model file not found" in result.output
