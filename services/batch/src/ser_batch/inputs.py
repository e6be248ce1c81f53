"""Which files to score: a folder (searched recursively by audio extension) or a manifest.

A manifest is a CSV or Parquet file with a ``path`` column; relative paths in it are taken
relative to the manifest's own folder, so a manifest can travel with its archive. Paths are
returned absolute (not resolved through symlinks): they are the key resume matches on, and
on a cluster they must name the same file on every node. Each also has a *name*, what
``--speaker-from`` reads the speaker from: its path relative to the input folder, or its
path as the manifest writes it (``/`` separated).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

import pyarrow.csv
import pyarrow.parquet

from ser_features import AUDIO_EXTENSIONS

PATH_COLUMN = "path"
MANIFEST_SUFFIXES = frozenset({".csv", ".parquet"})


class InputError(ValueError):
    """The input cannot be listed; the message says what to fix."""


def list_inputs(source: Path) -> list[str]:
    """Absolute paths of the files to score, in a stable order, without duplicates.

    Parameters
    ----------
    source : a folder, or a ``.csv`` / ``.parquet`` manifest with a ``path`` column

    Raises
    ------
    InputError
    """
    return list(list_named_inputs(source))


def list_named_inputs(source: Path) -> dict[str, str]:
    """``{absolute path: name}`` of the files to score, in :func:`list_inputs`' order.

    The name is the file's path relative to the folder ``source``, or the manifest's own
    spelling of it (normalised: ``./a/../b.wav`` → ``b.wav``), with ``/`` separators.

    Raises
    ------
    InputError
    """
    if source.is_dir():
        found = (
            path
            for path in source.rglob("*")
            if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file()
        )
        named = {os.path.abspath(path): path.relative_to(source).as_posix() for path in found}
        return dict(sorted(named.items()))
    if not source.is_file():
        raise InputError(f"input {source} does not exist: give a folder or a manifest file")
    if source.suffix.lower() not in MANIFEST_SUFFIXES:
        raise InputError(
            f"input {source} is neither a folder nor a manifest (.csv or .parquet with a "
            f"'{PATH_COLUMN}' column)"
        )
    return _read_manifest(source)


def _read_manifest(manifest: Path) -> dict[str, str]:
    try:
        if manifest.suffix.lower() == ".csv":
            table = pyarrow.csv.read_csv(manifest)
        else:
            table = pyarrow.parquet.read_table(manifest, columns=[PATH_COLUMN])
    except (pyarrow.ArrowException, OSError, KeyError) as error:
        raise InputError(f"manifest {manifest} cannot be read: {error}") from error
    if PATH_COLUMN not in table.column_names:
        raise InputError(
            f"manifest {manifest} has no '{PATH_COLUMN}' column (columns: {table.column_names})"
        )
    base = manifest.parent
    paths = (str(value) for value in table[PATH_COLUMN].to_pylist() if value not in (None, ""))
    named: dict[str, str] = {}  # keeps the manifest's order while dropping repeated paths
    for path in paths:
        named.setdefault(os.path.abspath(base / path), PurePath(os.path.normpath(path)).as_posix())
    return named
