"""The ser-batch command line: what a user sees when the input or the model is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ser_batch.cli import app
from tests.batch.conftest import make_archive

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


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (r"^(\w+_\d+\.wav$", r"--speaker-from '^(\w+_\d+\.wav$' is neither 'folder' nor a valid"),
        (r"^\w+_\d+\.wav$", r"--speaker-from '^\w+_\d+\.wav$' has no capture group"),
    ],
)
def test_a_bad_speaker_rule_is_refused_before_any_work(
    tmp_path: Path, value: str, message: str
) -> None:
    # No model, no input: the option is checked first, so nothing else is even looked at.
    out = tmp_path / "r.parquet"
    result = RUNNER.invoke(
        app,
        [str(tmp_path / "nowhere"), "--out", str(out), "--model", str(tmp_path / "m.onnx"),
         "--speaker-from", value],
    )  # fmt: skip
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"ser-batch: {message}"), line
    assert not out.exists()


def test_speaker_adaptation_with_a_model_without_an_adapted_head_is_refused(
    batch_model: Path, tmp_path: Path
) -> None:
    make_archive(tmp_path / "archive", n_good=1)
    out = tmp_path / "r.parquet"
    result = RUNNER.invoke(
        app,
        [str(tmp_path / "archive"), "--out", str(out), "--model", str(batch_model),
         "--speaker-from", "folder"],
    )  # fmt: skip
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert (
        line.startswith("ser-batch: --speaker-from: model ")
        and "has no speaker-adapted head" in line
    )
    assert not out.exists() and not Path(f"{out}.parts").exists()
