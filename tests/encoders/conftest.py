"""A tiny random Whisper written in CTranslate2's layout once per session (no real weights)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ser_encoders import WhisperEncoderWeights, encoder_weights, read_ct2_model
from tests.support.tiny_encoder import TINY_SHAPE, write_tiny_whisper


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A directory ctranslate2.models.Whisper loads: model.bin, vocabulary.txt, config.json."""
    directory = tmp_path_factory.mktemp("tiny_whisper")
    write_tiny_whisper(directory, seed=3, **TINY_SHAPE)
    return directory


@pytest.fixture(scope="session")
def tiny_weights(tiny_model_dir: Path) -> WhisperEncoderWeights:
    return encoder_weights(read_ct2_model(tiny_model_dir / "model.bin").variables)
