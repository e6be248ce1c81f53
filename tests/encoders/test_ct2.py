"""The CTranslate2 model.bin reader and writer: round trips, the real file, damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from ser_encoders import (
    WHISPER_TINY_EN,
    Ct2FormatError,
    model_path,
    read_ct2_model,
    sha256_file,
    write_ct2_model,
)
from tests.support.tiny_encoder import random_whisper_weights


def mixed_variables() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "b/weight": rng.standard_normal((3, 5)).astype(np.float16),
        "a/bias": rng.standard_normal(7).astype(np.float32),
        "a/flag": np.array(1, np.int8),
        "a/count": np.array(-2, np.int16),
        "c/ids": np.arange(6, dtype=np.int32).reshape(2, 3),
        "c/empty": np.zeros((0, 4), np.float32),
        "c/cube": rng.integers(-128, 127, (2, 3, 4)).astype(np.int8),
    }


def test_every_dtype_and_rank_round_trips(tmp_path: Path) -> None:
    variables = mixed_variables()
    path = write_ct2_model(
        tmp_path / "model.bin", variables, "SomeSpec", 7, aliases={"z/alias": "b/weight"}
    )
    model = read_ct2_model(path)
    assert (model.spec_name, model.spec_revision, model.binary_version) == ("SomeSpec", 7, 6)
    assert model.aliases == {"z/alias": "b/weight"}
    assert set(model.variables) == {*variables, "z/alias"}
    for name, expected in variables.items():
        actual = model.variables[name]
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, name
        np.testing.assert_array_equal(actual, expected)
    assert model.variables["z/alias"] is model.variables["b/weight"]


def test_a_prefix_keeps_only_its_variables_and_aliases(tmp_path: Path) -> None:
    path = write_ct2_model(
        tmp_path / "model.bin", mixed_variables(),
        aliases={"a/alias": "a/bias", "c/alias": "a/bias", "a/outside": "b/weight"},
    )  # fmt: skip
    model = read_ct2_model(path, prefix="a/")
    assert set(model.variables) == {"a/bias", "a/flag", "a/count", "a/alias"}
    assert model.aliases == {"a/alias": "a/bias"}


def test_the_pinned_tiny_en_file_reads_and_writes_back_byte_for_byte(tmp_path: Path) -> None:
    """The reader understands every byte of the real file: re-serialised, it hashes the same."""
    model = read_ct2_model(model_path(WHISPER_TINY_EN))
    assert (model.spec_name, model.spec_revision, model.binary_version) == ("WhisperSpec", 3, 6)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert model.variables["encoder/conv1/weight"].dtype == np.float16  # kept as stored
    assert int(model.variables["encoder/num_heads"]) == 6
    stored = {name: array for name, array in model.variables.items() if name not in model.aliases}
    copy = write_ct2_model(
        tmp_path / "model.bin", stored, model.spec_name, model.spec_revision, model.aliases
    )
    assert sha256_file(copy) == WHISPER_TINY_EN.sha256


def test_the_tiny_random_whisper_has_the_real_files_variables() -> None:
    """Same names, ranks and dtypes as tiny.en (only sizes and decoder depth differ), so tests
    on the tiny model exercise the real layout."""
    real = read_ct2_model(model_path(WHISPER_TINY_EN)).variables
    tiny = random_whisper_weights(n_layers=4, d_model=384, n_heads=6)
    real_encoder = {name for name in real if name.startswith("encoder/")}
    assert {name for name in tiny if name.startswith("encoder/")} == real_encoder
    assert set(tiny) <= set(real)
    for name, array in tiny.items():
        assert (array.ndim, array.dtype) == (real[name].ndim, real[name].dtype), name
        if name.startswith("encoder/"):
            assert array.shape == real[name].shape, name


def test_a_truncated_file_says_where(tmp_path: Path) -> None:
    path = write_ct2_model(tmp_path / "model.bin", mixed_variables())
    data = path.read_bytes()
    for cut in (2, 40, len(data) - 3):
        path.write_bytes(data[:cut])
        with pytest.raises(Ct2FormatError, match="truncated"):
            read_ct2_model(path)


def test_unknown_versions_dtypes_and_trailing_bytes_are_refused(tmp_path: Path) -> None:
    path = write_ct2_model(tmp_path / "model.bin", {"x": np.ones(2, np.float32)})
    data = path.read_bytes()
    path.write_bytes(struct.pack("<I", 7) + data[4:])
    with pytest.raises(Ct2FormatError, match="binary version 7"):
        read_ct2_model(path)
    dtype_offset = data.index(b"x\0") + 2 + 1 + 4  # after the name, the rank and one dimension
    assert data[dtype_offset] == 0  # float32
    path.write_bytes(data[:dtype_offset] + bytes([5]) + data[dtype_offset + 1 :])
    with pytest.raises(Ct2FormatError, match="dtype id 5"):
        read_ct2_model(path)
    path.write_bytes(data + b"\0")
    with pytest.raises(Ct2FormatError, match="after the aliases"):
        read_ct2_model(path)


def test_the_writer_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="float64"):
        write_ct2_model(tmp_path / "model.bin", {"x": np.ones(2)})
    with pytest.raises(ValueError, match="not a variable"):
        write_ct2_model(tmp_path / "model.bin", {"x": np.ones(2, np.float32)}, aliases={"y": "z"})
