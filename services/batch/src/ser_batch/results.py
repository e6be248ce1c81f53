"""Where results go: part files written as the job goes, merged into one Parquet at the end.

``results.parquet`` is built in ``results.parquet.parts/``: every few hundred files the driver
writes a part (atomically: temporary name, then rename), so a job that is interrupted keeps
what it finished. A later run with the same ``--out`` skips the paths already in the output
or in its parts (resume), and the final merge writes ``results.parquet`` (and
``results.segments.parquet`` with ``--segments``) and removes the parts.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ser_batch.scoring import SEGMENTS_COLUMN

PARTS_SUFFIX = ".parts"
SEGMENTS_SUFFIX = ".segments.parquet"
_PART_GLOB = "part-*.parquet"


def segments_path(out: Path) -> Path:
    """``results.parquet`` → ``results.segments.parquet`` (same folder)."""
    return out.with_name(out.stem + SEGMENTS_SUFFIX)


def split_segments(table: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """Results with a ``segments`` list column → (file rows, one row per window with its path)."""
    if SEGMENTS_COLUMN not in table.column_names:
        return table, None
    nested = table[SEGMENTS_COLUMN].combine_chunks()
    windows = pc.list_flatten(nested)
    parents = pc.list_parent_indices(nested)
    segments = pa.Table.from_struct_array(windows)
    segments = segments.add_column(0, "path", pc.take(table["path"], parents))
    return table.drop_columns([SEGMENTS_COLUMN]), segments


def _write_atomically(table: pa.Table, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)  # readers (a resumed run) never see half a file


class ResultStore:
    """The output file, its segments file and the parts folder of one ``--out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.segments_out = segments_path(out)
        self.parts = out.with_name(out.name + PARTS_SUFFIX)

    def _part_files(self) -> list[Path]:
        if not self.parts.is_dir():
            return []
        return sorted(
            p for p in self.parts.glob(_PART_GLOB) if not p.name.endswith(SEGMENTS_SUFFIX)
        )

    def _segment_files(self, parts: list[Path]) -> list[Path]:
        candidates = [self.segments_out, *(p.with_name(p.stem + SEGMENTS_SUFFIX) for p in parts)]
        return [p for p in candidates if p.is_file()]

    def done_paths(self) -> set[str]:
        """Paths already scored: in the merged output or in a part of an interrupted run."""
        sources = ([self.out] if self.out.is_file() else []) + self._part_files()
        done: set[str] = set()
        for source in sources:
            done.update(pq.read_table(source, columns=["path"])["path"].to_pylist())
        return done

    def columns(self) -> list[str] | None:
        """The columns of what was written so far (the output, else a part); None: nothing."""
        sources = ([self.out] if self.out.is_file() else []) + self._part_files()
        return pq.read_schema(sources[0]).names if sources else None

    def write_part(self, table: pa.Table) -> None:
        """Save scored rows (with an optional ``segments`` column) as one more part."""
        self.parts.mkdir(parents=True, exist_ok=True)
        files, segments = split_segments(table)
        name = f"part-{uuid.uuid4().hex}"
        if segments is not None:  # first: a file part's rows always have their segments
            _write_atomically(segments, self.parts / f"{name}{SEGMENTS_SUFFIX}")
        _write_atomically(files, self.parts / f"{name}.parquet")

    def merge(self) -> pa.Table:
        """Fold the parts into the output (and segments) file; return all results.

        A path scored twice (two runs on the same ``--out`` at once) keeps its latest row.
        """
        parts = self._part_files()
        sources = ([self.out] if self.out.is_file() else []) + parts
        if not sources:
            return pa.table({"path": pa.array([], pa.string())})
        table = _latest_per_path(pa.concat_tables([pq.read_table(p) for p in sources]))
        if not parts:
            return table
        _write_atomically(table, self.out)
        segment_files = self._segment_files(parts)
        if segment_files:
            segments = pa.concat_tables([pq.read_table(p) for p in segment_files])
            _write_atomically(segments.sort_by([("path", "ascending")]), self.segments_out)
        for part in self.parts.glob(_PART_GLOB):
            part.unlink()
        self.parts.rmdir()
        return table


def _latest_per_path(table: pa.Table) -> pa.Table:
    """Keep the last row of each path, ordered by path."""
    index = pa.array(range(table.num_rows), pa.int64())
    table = table.append_column("_row", index)
    last = table.group_by("path").aggregate([("_row", "max")])["_row_max"]
    kept = table.filter(pc.is_in(table["_row"], value_set=last)).drop_columns(["_row"])
    return kept.sort_by("path")
