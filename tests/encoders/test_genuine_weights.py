"""The pinned weights are OpenAI's Whisper tiny.en, proved with tests that can fail.

(a) Our numpy and Keras encoders equal ``ctranslate2.models.Whisper.encode`` on the same log-mel
within 1e-4 relative: the weights are read and used as CTranslate2 itself uses them.
(b) The bundled decoder, run by ctranslate2, transcribes phrases synthesised at test time: the
file is a working speech recogniser, not merely a well-formed one.

ctranslate2 is a test-only dependency (requirements-dev.txt); the product never imports it.
"""

from __future__ import annotations

from pathlib import Path

import ctranslate2
import numpy as np
import pytest

from ser_encoders import (
    WHISPER_TINY_EN,
    WhisperEncoderWeights,
    encode,
    load_whisper_encoder,
    model_path,
    sinusoids,
)
from ser_features import whisper_log_mel
from ser_features.whisper_mel import MAX_SAMPLES
from tests.support.audio import harmonic_tone
from tests.support.speech import ESPEAK, normalise, synthesise, tokens_to_text
from tests.support.tiny_encoder import relative_error

pytestmark = pytest.mark.slow

TOLERANCE = 1e-4  # relative: max |ours - ctranslate2| / max |ctranslate2|
NO_ESPEAK = "espeak-ng is not installed (apt-get install -y espeak-ng): no speech to transcribe"
# Phrases tiny.en gets word for word from espeak-ng's voice at 140 words per minute.
PHRASES = ("Open the door and turn on the light.", "Thank you very much for your help.")


@pytest.fixture(scope="module")
def weights() -> WhisperEncoderWeights:
    return load_whisper_encoder()


@pytest.fixture(scope="module")
def reference():
    directory = model_path(WHISPER_TINY_EN).parent
    return ctranslate2.models.Whisper(str(directory), device="cpu", compute_type="float32")


def ct2_encode(reference, log_mel: np.ndarray) -> np.ndarray:
    """ctranslate2's final encoder output (after the LayerNorm), (batch, n_frames // 2, 384)."""
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(log_mel))
    return np.array(reference.encode(features, to_cpu=True))


def clips(tmp_path: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out = {
        "3-s harmonic tone": harmonic_tone(3.0, seed=1),
        "1.1-s noise": (0.05 * rng.standard_normal(17_600)).astype(np.float32),
    }
    if ESPEAK is not None:
        out["speech"] = synthesise(PHRASES[0], tmp_path)
    return out


def test_numpy_encoder_equals_ctranslate2(weights, reference, tmp_path: Path) -> None:
    for name, samples in clips(tmp_path).items():
        log_mel = whisper_log_mel(samples)[None]
        ours = encode(weights, log_mel)
        assert ours.shape[0] == 6  # embeddings, 4 blocks, final LayerNorm
        error = relative_error(ours[-1], ct2_encode(reference, log_mel))
        assert error < TOLERANCE, f"{name}: {error:.2e}"


@pytest.mark.training
def test_keras_encoder_equals_ctranslate2(weights, reference, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from ser_encoders.keras_whisper import build_keras_encoder

    model = build_keras_encoder(weights)
    for name, samples in clips(tmp_path).items():
        log_mel = whisper_log_mel(samples)[None]
        ours = np.asarray(model(log_mel, training=False)[-1])
        error = relative_error(ours, ct2_encode(reference, log_mel))
        assert error < TOLERANCE, f"{name}: {error:.2e}"


def test_stored_positions_are_whispers_sinusoids(weights) -> None:
    np.testing.assert_allclose(weights.positions, sinusoids(1500, 384), atol=1e-3)  # float16


@pytest.mark.skipif(ESPEAK is None, reason=NO_ESPEAK)
@pytest.mark.parametrize("phrase", PHRASES)
def test_the_bundled_decoder_transcribes_synthesised_speech(
    reference, phrase: str, tmp_path: Path
) -> None:
    samples = synthesise(phrase, tmp_path)
    # The decoder is only trusted on Whisper's 30-s input (on the bare clip it repeats itself),
    # so the audio is zero-padded to 30 s here, as Whisper's transcribe does; the encoder
    # features for emotion use the clip alone.
    padded = np.concatenate([samples, np.zeros(MAX_SAMPLES - len(samples), np.float32)])
    log_mel = whisper_log_mel(padded)[None]
    (result,) = reference.generate(
        ctranslate2.StorageView.from_array(log_mel),
        [["<|startoftranscript|>", "<|notimestamps|>"]],
        beam_size=1, max_length=64,
    )  # fmt: skip
    text = tokens_to_text(result.sequences[0])
    assert normalise(text) == normalise(phrase), text
