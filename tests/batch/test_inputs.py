"""Listing the input: folders by extension (recursively), CSV and Parquet manifests."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ser_batch.inputs import InputError, list_inputs, list_named_inputs
from tests.batch.conftest import make_archive


def test_a_folder_is_searched_recursively_by_audio_extension(tmp_path: Path) -> None:
    files = make_archive(tmp_path)
    listed = list_inputs(tmp_path)
    assert listed == sorted(str(p) for p in files.values())
    assert not any(p.endswith(".txt") for p in listed)


def test_csv_manifest_paths_are_relative_to_the_manifest(tmp_path: Path) -> None:
    files = make_archive(tmp_path / "archive")
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        "path,speaker\narchive/good1.wav,a\narchive/phone/memo.m4a,b\narchive/good1.wav,a\n"
    )
    assert list_inputs(manifest) == [str(files["good1"]), str(files["memo"])]


def test_parquet_manifest_keeps_absolute_paths(tmp_path: Path) -> None:
    files = make_archive(tmp_path)
    manifest = tmp_path / "list.parquet"
    pq.write_table(pa.table({"path": [str(files["good0"]), str(files["silent"])]}), manifest)
    assert list_inputs(manifest) == [os.path.abspath(files["good0"]), str(files["silent"])]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("list.csv", "file\na.wav\n", "no 'path' column"), ("list.txt", "a.wav\n", "neither")],
)
def test_unusable_inputs_are_refused_with_a_reason(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    source = tmp_path / name
    source.write_text(content)
    with pytest.raises(InputError, match=message):
        list_inputs(source)
    with pytest.raises(InputError, match="does not exist"):
        list_inputs(tmp_path / "missing")


def test_names_are_relative_to_the_folder_or_as_the_manifest_writes_them(tmp_path: Path) -> None:
    files = make_archive(tmp_path / "archive", n_good=1)
    named = list_named_inputs(tmp_path / "archive")
    assert list(named) == list_inputs(tmp_path / "archive")
    assert named[str(files["memo"])] == "phone/memo.m4a"
    assert named[str(files["good0"])] == "good0.wav"

    manifest = tmp_path / "list.csv"
    absolute = str(files["silent"])
    manifest.write_text(f"path\n./archive/x/../phone/memo.m4a\n{absolute}\narchive/good0.wav\n")
    assert list_named_inputs(manifest) == {
        str(files["memo"]): "archive/phone/memo.m4a",
        absolute: absolute,
        str(files["good0"]): "archive/good0.wav",
    }
