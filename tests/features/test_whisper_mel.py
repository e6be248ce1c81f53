"""Whisper's log-mel: an independent librosa reference, golden values, and the framing rules.

The golden file holds the log-mel of one synthesised signal; regenerate it only for a deliberate
change of the recipe (which would also change every cached encoder output):
``python -m tests.features.test_whisper_mel``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ser_features import AudioError, AudioTooLongError, whisper_log_mel
from ser_features.whisper_mel import (
    HOP_LENGTH,
    MAX_SAMPLES,
    MIN_SAMPLES,
    N_MELS,
    whisper_frame_count,
    whisper_mel_filters,
)
from tests.support.audio import harmonic_tone

librosa = pytest.importorskip("librosa")

GOLDEN_PATH = Path(__file__).with_name("golden_whisper_log_mel.json")
GOLDEN_FRAMES = [0, 1, 20, 49]  # first, second, interior, last
TOLERANCE = 1e-4  # the bound against the independent reference


def reference_log_mel(samples: np.ndarray, n_frames: int) -> np.ndarray:
    """Whisper's recipe spelt with librosa's STFT and filters (float64 signal), on the first
    ``n_frames`` frames (the floor, max - 8, is taken over the frames kept)."""
    stft = librosa.stft(
        samples.astype(np.float64), n_fft=400, hop_length=160, window="hann", center=True,
        pad_mode="reflect",
    )  # fmt: skip
    power = np.abs(stft[:, :n_frames]) ** 2
    mel = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) @ power
    log_mel = np.log10(np.maximum(mel, 1e-10))
    log_mel = np.maximum(log_mel, log_mel.max() - 8.0)
    return (log_mel + 4.0) / 4.0


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    tone = harmonic_tone(2.0, seed=5)
    gap = np.concatenate([tone[:8000], np.zeros(8000, np.float32), tone[:8000]])
    return {
        "tone": tone,
        "white noise": (0.1 * rng.standard_normal(24_123)).astype(np.float32),
        # Silence in the middle: frames at the max - 8 floor, and the floor's edge.
        "tone, silence, tone": gap,
        "quiet tone": (1e-3 * harmonic_tone(0.7, seed=2)).astype(np.float32),
        "shortest": harmonic_tone(MIN_SAMPLES / 16000, seed=3),
    }


@pytest.mark.filterwarnings("ignore:n_fft=400 is too large")  # librosa on the 320-sample clip
@pytest.mark.parametrize("name", list(signals()))
def test_matches_an_independent_librosa_reference(name: str) -> None:
    samples = signals()[name]
    n_frames = len(samples) // 160 // 2 * 2  # Whisper drops the last frame; we keep an even count
    ours = whisper_log_mel(samples)
    assert ours.shape == (N_MELS, n_frames)
    np.testing.assert_allclose(ours, reference_log_mel(samples, n_frames), atol=TOLERANCE, rtol=0)


def test_the_floor_is_eight_log10_units_below_the_clip_maximum() -> None:
    log_mel = whisper_log_mel(signals()["tone, silence, tone"])
    assert log_mel.max() - log_mel.min() == pytest.approx(8.0 / 4.0, abs=1e-6)


def test_filters_equal_librosa_slaney_filters() -> None:
    expected = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)
    actual = whisper_mel_filters()
    assert actual.shape == (80, 201)
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, atol=1e-8, rtol=0)


@pytest.mark.parametrize(
    ("n_samples", "n_frames"),
    [(320, 2), (479, 2), (480, 2), (640, 4), (48_000, 300), (48_159, 300), (48_160, 300),
     (48_320, 302), (MAX_SAMPLES, 3000)],
)  # fmt: skip
def test_frame_count_is_samples_over_hop_rounded_down_to_even(
    n_samples: int, n_frames: int
) -> None:
    samples = harmonic_tone(n_samples / 16000, seed=1)
    assert len(samples) == n_samples
    log_mel = whisper_log_mel(samples)
    assert log_mel.shape == (N_MELS, n_frames)
    assert log_mel.dtype == np.float32
    assert whisper_frame_count(n_samples) == n_frames


def test_frame_i_is_centred_on_sample_i_times_hop() -> None:
    samples = np.zeros(16_000, np.float32)
    samples[37 * HOP_LENGTH] = 1.0  # a click: only frames whose window holds it see energy
    energy = whisper_log_mel(samples).sum(axis=0)
    assert int(np.argmax(energy)) == 37


def test_more_than_30_seconds_is_refused_with_the_reason() -> None:
    with pytest.raises(AudioTooLongError, match="30 s"):
        whisper_log_mel(np.zeros(MAX_SAMPLES + 1, np.float32))


def test_shorter_than_one_encoder_step_or_not_mono_is_refused() -> None:
    with pytest.raises(AudioError, match="shorter than one encoder step"):
        whisper_log_mel(np.ones(MIN_SAMPLES - 1, np.float32))
    with pytest.raises(AudioError, match="mono"):
        whisper_log_mel(np.ones((2, 16_000), np.float32))


def golden_signal() -> np.ndarray:
    return harmonic_tone(0.5, seed=7)  # 8000 samples → 50 frames


def golden_values() -> list[list[float]]:
    return whisper_log_mel(golden_signal())[:, GOLDEN_FRAMES].T.round(6).tolist()


def test_log_mel_matches_the_golden_values() -> None:
    golden = json.loads(GOLDEN_PATH.read_text())
    assert golden["frames"] == GOLDEN_FRAMES
    actual = whisper_log_mel(golden_signal())
    assert actual.shape == (N_MELS, 50)
    np.testing.assert_allclose(
        actual[:, GOLDEN_FRAMES].T, np.array(golden["log_mel"]), atol=1e-5, rtol=0
    )


if __name__ == "__main__":
    GOLDEN_PATH.write_text(json.dumps({"frames": GOLDEN_FRAMES, "log_mel": golden_values()}) + "\n")
    print(f"wrote {GOLDEN_PATH}")
