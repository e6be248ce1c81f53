"""``ser-batch``: score a folder or manifest of recordings into a Parquet table."""

from __future__ import annotations

from pathlib import Path

import typer

from ser_batch.inputs import InputError
from ser_batch.job import DEFAULT_FILES_PER_BATCH, JobConfig, run_job
from ser_batch.speakers import SpeakerRule, SpeakerRuleError
from ser_inference import (
    DEFAULT_MAX_DURATION_S,
    DEFAULT_MIN_DURATION_S,
    DEFAULT_MODEL_PATH,
    AdaptationUnavailableError,
    AudioLimits,
    ModelLoadError,
)

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    source: Path = typer.Argument(
        ...,
        metavar="INPUT",
        help="Folder (searched recursively) or manifest (.csv/.parquet with a 'path' column).",
    ),
    out: Path = typer.Option(..., "--out", help="Results .parquet; an existing one is resumed."),
    model: Path = typer.Option(
        DEFAULT_MODEL_PATH, envvar="SER_MODEL_PATH", help="ONNX model exported by ser-train."
    ),
    segments: bool = typer.Option(
        False,
        "--segments",
        help="Also write each file's window timeline to <out>.segments.parquet.",
    ),
    address: str | None = typer.Option(
        None, help="Ray cluster to run on ('auto', 'ray://head:10001'); default: local Ray."
    ),
    workers: int | None = typer.Option(
        None, min=1, help="Scoring actors (one CPU each); default: one per CPU Ray sees."
    ),
    files_per_batch: int = typer.Option(
        DEFAULT_FILES_PER_BATCH, min=1, help="Files per actor call."
    ),
    min_duration_s: float = typer.Option(DEFAULT_MIN_DURATION_S, min=0, help="Shortest file, s."),
    max_duration_s: float = typer.Option(DEFAULT_MAX_DURATION_S, min=0, help="Longest file, s."),
    speaker_from: str | None = typer.Option(
        None,
        "--speaker-from",
        metavar="folder|REGEX",
        help="Adapt answers to each speaker, profiled from all their files (needs a model "
        "with an adapted head; two passes): 'folder' = the file's folder under INPUT, else a "
        "regex searched in the path relative to INPUT (or as the manifest writes it) whose "
        "group 'speaker' or first group is the speaker, e.g. '^(\\w+)_\\d+\\.wav$'.",
    ),
    domain_from_input: bool = typer.Option(
        False,
        "--domain-from-input",
        help="Adapt answers to the archive's own place (microphone, room, language): a domain "
        "profile from all of INPUT's files first (needs a model whose adapted head serves "
        "domain profiles; two passes). With --speaker-from, each speaker's profile uses it as "
        "a prior.",
    ),
) -> None:
    """Classify every recording of INPUT; bad files become rows with their error."""
    try:
        config = JobConfig(
            input=source,
            out=out,
            model=model,
            limits=AudioLimits(min_duration_s=min_duration_s, max_duration_s=max_duration_s),
            segments=segments,
            address=address,
            workers=workers,
            files_per_batch=files_per_batch,
            speaker_from=None if speaker_from is None else SpeakerRule.parse(speaker_from),
            domain_from_input=domain_from_input,
        )
        run_job(config, echo=typer.echo)
    except (InputError, ModelLoadError, SpeakerRuleError, AdaptationUnavailableError) as error:
        typer.echo(f"ser-batch: {error}", err=True)
        raise typer.Exit(2) from None
