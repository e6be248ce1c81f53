"""What the terminal shows: a progress line (files/s, ETA) and the end-of-job summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

import pyarrow as pa

from ser_batch.scoring import ADAPTED_COLUMN

REFRESH_S = 0.5  # s between progress updates on a terminal
LOG_EVERY_S = 10.0  # s between progress lines when stderr is a file or a pipe (CI, docker logs)


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Files done of ``total``, files/s and ETA: one redrawn line on a terminal, else a line
    every ``LOG_EVERY_S`` seconds."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "") -> None:
        self.total = total
        self.label = label  # what the line counts, e.g. "profiles: " (scoring: none)
        self.done = 0
        self.errors = 0
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self._shown = 0.0  # monotonic time of the last line
        self._shown_done = -1  # files done at the last line

    @property
    def rate(self) -> float:
        """Files per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, files: int, errors: int = 0) -> None:
        self.done += files
        self.errors += errors
        now = time.monotonic()
        if now - self._shown >= (REFRESH_S if self.interactive else LOG_EVERY_S):
            self._shown = now
            self._show()

    def _show(self, end: str = "") -> None:
        self._shown_done = self.done
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        percent = 100.0 * self.done / self.total if self.total else 100.0
        line = (
            f"{self.label}{self.done}/{self.total} files ({percent:.0f} %)  {rate:.1f} files/s  "
            f"ETA {_clock(eta) if eta == eta else '?'}  errors {self.errors}"
        )
        if self.interactive:
            self.stream.write(f"\r\x1b[K{line}{end}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self._show(end="\n")
        elif self._shown_done != self.done:
            self._show()


def _adaptation_line(table: pa.Table, classified: int) -> str:
    """How many classified files were answered adapted, to which statistics, and why not the
    rest."""
    rows = [
        (row["speaker"], row[ADAPTED_COLUMN], row.get("adaptation"))
        for row in table.select(
            [c for c in ("speaker", ADAPTED_COLUMN, "adaptation") if c in table.column_names]
        ).to_pylist()
        if row[ADAPTED_COLUMN] is not None  # None: an error, no answer
    ]
    adapted = sum(1 for _, was, _ in rows if was)
    plain = [speaker for speaker, was, _ in rows if not was]
    no_speaker = sum(1 for speaker in plain if speaker is None)
    unusable = len(plain) - no_speaker
    speakers = {speaker for speaker, _, _ in rows if speaker is not None}
    usable = {speaker for speaker, was, used in rows if was and used != "domain"}
    used = Counter(kind for _, was, kind in rows if was and kind)
    kinds = (
        " to " + ", ".join(f"{kind} {n}" for kind, n in sorted(used.items()))
        if set(used) - {"speaker"}
        else ""
    )
    return (
        f"speaker adaptation: {adapted} of {classified} classified files adapted{kinds} "
        f"({len(usable)} of {len(speakers)} speakers with a usable profile); plain: "
        f"{unusable} with an unusable profile, {no_speaker} without a speaker"
    )


def summary(table: pa.Table, scored: int, skipped: int, wall_s: float, scoring_s: float) -> str:
    """The end-of-job report: counts, errors by reason, emotions, wall time and speed.

    ``wall_s`` is the whole run (s); ``scoring_s`` (s) leaves out Ray's start-up and the merge.
    """
    errors = Counter(e for e in table["error"].to_pylist() if e) if table.num_rows else Counter()
    emotions = Counter(e for e in table["emotion"].to_pylist() if e) if table.num_rows else {}
    classified = sum(emotions.values())
    rate = scored / scoring_s if scoring_s > 0 else 0.0
    lines = [
        f"files in output: {table.num_rows}  (scored now {scored}, skipped as already done "
        f"{skipped})",
        f"classified: {classified}  errors: {sum(errors.values())}"
        + (
            "  (" + ", ".join(f"{reason} {n}" for reason, n in errors.most_common()) + ")"
            if errors
            else ""
        ),
    ]
    if classified:
        shares = ", ".join(
            f"{emotion} {n} ({100 * n / classified:.0f} %)" for emotion, n in emotions.most_common()
        )
        lines.append(f"emotions: {shares}")
    if ADAPTED_COLUMN in table.column_names:
        lines.append(_adaptation_line(table, classified))
    lines.append(
        f"wall time: {_clock(wall_s)} ({wall_s:.1f} s); scoring {scoring_s:.1f} s, "
        f"{rate:.1f} files/s"
    )
    return "\n".join(lines)
