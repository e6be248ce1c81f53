"""The ser-batch command line: what a user sees when the input or the model is wrong."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ser_batch.cli import app

RUNNER = CliRunner()


def test_a_missing_input_is_a_one_line_error(batch_model: Path, tmp_path: Path) -> None:
    result = RUNNER.invoke(
        app,
        [
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "r.parquet"),
            "--model",
            str(batch_model),
        ],
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "r.parquet").exists()


def test_a_missing_model_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    result = RUNNER.invoke(
        app,
        [str(tmp_path), "--out", str(tmp_path / "r.parquet"), "--model", str(tmp_path / "m.onnx")],
    )
    assert result.exit_code == 2
    assert "model file not found" in result.output
