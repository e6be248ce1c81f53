"""Feature extraction: golden values, an independent check against librosa, and invariants.

The golden file holds features of one synthesised signal. Every implementation of the
features (this numpy one today; any faster one later) must reproduce it. Regenerate it only
for a deliberate formula change, together with a FEATURE_VERSION bump:
``python -m tests.features.test_features``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ser_features import FeatureConfig, FeatureExtractor, utterance_features
from ser_features.features import delta, frame_signal
from ser_features.mel import mel_filterbank
from tests.support.audio import harmonic_tone

GOLDEN_PATH = Path(__file__).with_name("golden_features.json")
GOLDEN_FRAMES = [0, 37, 150, 263, 300]  # first, interior and last frames


def golden_window(config: FeatureConfig) -> np.ndarray:
    """2 s of harmonic tone, zero-padded to one window: exercises voiced and padded frames."""
    window = np.zeros(config.window_samples, dtype=np.float32)
    tone = harmonic_tone(2.0, seed=7)
    window[: len(tone)] = tone
    return window


GOLDEN_AUDIO_SAMPLES = 32_000  # the 2 s of tone in golden_window at 16 kHz
NORMALIZATIONS = ("none", "window", "speech")
# The pitch group alone and unscaled, on frames inside the tone (the golden frames past 200
# are padding, all zero): raw semitones and voicing are the most telling numbers.
PITCH_CONFIG = FeatureConfig(groups=("pitch",), normalization="none")
PITCH_GOLDEN_FRAMES = [0, 3, 37, 100, 150, 197, 200]
SHIPPED_SIDECAR = Path(__file__).parents[2] / "models" / "ser_model.json"


def golden_features() -> dict[str, list]:
    out = {}
    for normalization in NORMALIZATIONS:
        config = FeatureConfig(normalization=normalization)
        extractor = FeatureExtractor(config)
        matrix = extractor.window_features(golden_window(config), GOLDEN_AUDIO_SAMPLES)
        out[normalization] = matrix[GOLDEN_FRAMES].round(4).tolist()
    pitch = FeatureExtractor(PITCH_CONFIG).window_features(golden_window(PITCH_CONFIG))
    out["pitch"] = pitch[PITCH_GOLDEN_FRAMES].round(4).tolist()
    return out


def test_features_match_the_golden_values() -> None:
    golden = json.loads(GOLDEN_PATH.read_text())
    # Written for a version-3 config, which reads as today's default.
    config = FeatureConfig.from_dict(golden["config"])
    assert config == FeatureConfig(), "golden file made for another config"
    actual = golden_features()
    for name in (*NORMALIZATIONS, "pitch"):
        np.testing.assert_allclose(actual[name], golden[name], atol=2e-3, rtol=1e-4)


def test_a_version_2_config_still_gives_its_numbers() -> None:
    # The hand-crafted CNN (`--encoder none`, shipped until Model v3) was trained with feature
    # version 2; its metadata was since rewritten as versions 3 to 5, which compute the same
    # numbers without the pitch group, with numpy's FFT and the hand-crafted front end: both
    # spellings must read as the current version and reproduce the golden values.
    current = FeatureConfig(normalization="speech").to_dict()
    later = ("pitch_", "fft", "front_end")  # fields versions 3 to 5 added
    as_version_2 = {k: v for k, v in current.items() if not k.startswith(later)} | {"version": 2}
    config = FeatureConfig.from_dict(current)
    assert config == FeatureConfig.from_dict(as_version_2) == FeatureConfig(normalization="speech")
    matrix = FeatureExtractor(config).window_features(golden_window(config), GOLDEN_AUDIO_SAMPLES)
    golden = json.loads(GOLDEN_PATH.read_text())["speech"]
    np.testing.assert_allclose(matrix[GOLDEN_FRAMES].round(4), golden, atol=2e-3, rtol=1e-4)


def test_the_shipped_models_window_features_are_whispers_log_mel() -> None:
    """Model v3's sidecar asks for the default features with Whisper's front end: each window
    becomes ser_features.whisper_log_mel (golden values in test_whisper_mel.py), frames first."""
    from ser_features.whisper_mel import whisper_log_mel

    config = FeatureConfig.from_dict(json.loads(SHIPPED_SIDECAR.read_text())["feature_config"])
    assert config == FeatureConfig(front_end="whisper")
    window = golden_window(config)
    matrix = FeatureExtractor(config).window_features(window, GOLDEN_AUDIO_SAMPLES)
    assert matrix.shape == config.input_shape == (300, 80)
    np.testing.assert_array_equal(matrix, whisper_log_mel(window).T)


def test_output_shape_and_dtype() -> None:
    config = FeatureConfig()
    matrix = FeatureExtractor(config).window_features(golden_window(config))
    assert matrix.shape == config.input_shape
    assert matrix.dtype == np.float32
    assert np.isfinite(matrix).all()


def test_window_normalisation_gives_zero_mean_unit_variance() -> None:
    config = FeatureConfig(normalization="window")
    matrix = FeatureExtractor(config).window_features(golden_window(config))
    np.testing.assert_allclose(matrix.mean(axis=0), 0.0, atol=1e-4)
    # NORM_EPSILON (1e-5) is visible on ZCR, whose raw spread is only ~0.01.
    np.testing.assert_allclose(matrix.std(axis=0), 1.0, atol=2e-3)


def test_normalised_features_ignore_recording_gain() -> None:
    config = FeatureConfig()
    extractor = FeatureExtractor(config)
    window = golden_window(config)
    quiet, loud = extractor.window_features(0.05 * window), extractor.window_features(window)
    # Log-domain groups shift by a constant under gain; normalisation removes it. ZCR of the
    # zero-padded tail and the 80 dB log-mel floor may differ slightly.
    np.testing.assert_allclose(quiet[:, 1:42], loud[:, 1:42], atol=5e-3)


def test_speech_normalisation_scales_by_the_audio_frames_and_zeroes_the_padding() -> None:
    config = FeatureConfig(normalization="speech")
    extractor = FeatureExtractor(config)
    matrix = extractor.window_features(golden_window(config), GOLDEN_AUDIO_SAMPLES)
    n_audio_frames = extractor.audio_frames(GOLDEN_AUDIO_SAMPLES)
    assert n_audio_frames == 201  # frames centred on samples 0, 160, …, 32000
    speech = matrix[:n_audio_frames]
    np.testing.assert_allclose(speech.mean(axis=0), 0.0, atol=1e-4)
    # NORM_EPSILON shows on ZCR, whose spread over a steady tone is tiny.
    np.testing.assert_allclose(speech.std(axis=0), 1.0, atol=5e-3)
    assert np.all(matrix[n_audio_frames:] == 0.0)


def test_speech_normalisation_of_a_full_window_equals_window_normalisation() -> None:
    window = harmonic_tone(3.0, seed=3)
    by_speech = FeatureExtractor(FeatureConfig(normalization="speech")).window_features(window)
    by_window = FeatureExtractor(FeatureConfig(normalization="window")).window_features(window)
    np.testing.assert_allclose(by_speech, by_window, atol=1e-5)


def test_speech_normalisation_ignores_recording_gain() -> None:
    config = FeatureConfig(normalization="speech")
    extractor = FeatureExtractor(config)
    window = golden_window(config)
    quiet = extractor.window_features(0.05 * window, GOLDEN_AUDIO_SAMPLES)
    loud = extractor.window_features(window, GOLDEN_AUDIO_SAMPLES)
    np.testing.assert_allclose(quiet[:, 1:42], loud[:, 1:42], atol=5e-3)


def test_short_utterance_padding_is_zero_only_under_speech_normalisation() -> None:
    tone = harmonic_tone(1.0, seed=5)
    for normalization, padding_is_zero in (("speech", True), ("window", False)):
        extractor = FeatureExtractor(FeatureConfig(normalization=normalization))
        (features,) = utterance_features(tone, extractor).features
        assert bool(np.all(features[-50:] == 0.0)) is padding_is_zero


@pytest.mark.parametrize("n_audio", [-1, 48_001])
def test_impossible_audio_length_is_refused(n_audio: int) -> None:
    config = FeatureConfig(normalization="speech")
    with pytest.raises(ValueError, match="n_audio"):
        FeatureExtractor(config).window_features(golden_window(config), n_audio)


def test_batch_needs_one_audio_length_per_window() -> None:
    windows = np.zeros((2, FeatureConfig().window_samples), np.float32)
    with pytest.raises(ValueError, match="2 windows but 1"):
        FeatureExtractor(FeatureConfig()).batch_features(windows, [100])


def test_wrong_window_length_is_refused() -> None:
    with pytest.raises(ValueError, match="window of shape"):
        FeatureExtractor(FeatureConfig()).window_features(np.zeros(100, np.float32))


def test_framing_is_centred() -> None:
    frames = frame_signal(np.arange(1600, dtype=np.float32), 400, 160)
    assert frames.shape == (11, 400)
    assert frames[1, 200] == 160.0  # frame i is centred on sample i * hop


def test_delta_of_a_linear_ramp_is_its_slope() -> None:
    ramp = np.arange(50, dtype=np.float64)[:, None] * 3.0
    np.testing.assert_allclose(delta(ramp, 9)[5:-5], 3.0)


class TestAgainstLibrosa:
    """librosa is an independent implementation of the same formulas (tests only)."""

    librosa = pytest.importorskip("librosa")

    def test_mel_filterbank(self) -> None:
        ours = mel_filterbank(16_000, 512, 64, 20.0, 8_000.0)
        theirs = self.librosa.filters.mel(sr=16_000, n_fft=512, n_mels=64, fmin=20.0, fmax=8_000.0)
        np.testing.assert_allclose(ours, theirs, atol=1e-7)

    def test_log_mel_mfcc_rms_and_zcr(self) -> None:
        librosa = self.librosa
        config = FeatureConfig(normalization="none")
        window = golden_window(config)
        ours = FeatureExtractor(config).window_features(window)
        sizes = config.group_sizes
        columns = np.cumsum([0, *sizes.values()])
        group = {name: ours[:, columns[i] : columns[i + 1]] for i, name in enumerate(sizes)}
        power = (
            np.abs(
                librosa.stft(
                    window,
                    n_fft=512,
                    hop_length=160,
                    win_length=400,
                    center=True,
                    pad_mode="reflect",
                )
            )
            ** 2
        )
        mel = librosa.feature.melspectrogram(S=power, sr=16_000, n_mels=64, fmin=20.0, fmax=8_000.0)
        log_mel = librosa.power_to_db(mel, top_db=80.0).T
        mfcc = librosa.feature.mfcc(S=log_mel.T, n_mfcc=20).T
        np.testing.assert_allclose(group["log_mel"], log_mel, atol=1e-3)
        np.testing.assert_allclose(group["mfcc"], mfcc, atol=5e-3)
        # librosa zero-pads RMS/ZCR frames at the edges where we reflect: compare the interior.
        interior = slice(3, -3)
        rms = librosa.feature.rms(y=window, frame_length=400, hop_length=160)[0]
        rms_db = 20 * np.log10(np.maximum(rms, 1e-10))
        rms_db = np.maximum(rms_db, rms_db.max() - 80.0)  # our floor is relative, like log-mel
        np.testing.assert_allclose(group["rms"][interior, 0], rms_db[interior], atol=1e-3)
        zcr = librosa.feature.zero_crossing_rate(window, frame_length=400, hop_length=160)[0]
        np.testing.assert_allclose(group["zcr"][interior, 0], zcr[interior], atol=3e-3)


if __name__ == "__main__":
    GOLDEN_PATH.write_text(
        json.dumps({"config": FeatureConfig().to_dict(), **golden_features()}) + "\n"
    )
    print(f"wrote {GOLDEN_PATH}")


def test_the_scipy_fft_gives_nearly_the_same_features_but_not_the_same() -> None:
    pytest.importorskip("scipy")
    numpy_config, scipy_config = FeatureConfig(), FeatureConfig(fft="scipy")
    window = golden_window(numpy_config)
    a = FeatureExtractor(numpy_config).window_features(window, GOLDEN_AUDIO_SAMPLES)
    b = FeatureExtractor(scipy_config).window_features(window, GOLDEN_AUDIO_SAMPLES)
    assert b.dtype == np.float32 and b.shape == a.shape
    # Rounding-level differences: still a model is served with the FFT it was trained with.
    np.testing.assert_allclose(b, a, atol=1e-3)
    assert not np.array_equal(a, b)


def test_a_scipy_fft_model_without_scipy_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from ser_features import FeatureConfigError

    monkeypatch.setitem(sys.modules, "scipy.fft", None)  # import fails as if not installed
    with pytest.raises(FeatureConfigError, match="install scipy"):
        FeatureExtractor(FeatureConfig(fft="scipy"))


def test_the_whisper_front_end_gives_each_window_its_whisper_log_mel() -> None:
    from ser_features import whisper_log_mel

    config = FeatureConfig(front_end="whisper")
    window = harmonic_tone(config.window_s, seed=3)
    features = FeatureExtractor(config).window_features(window)
    assert features.shape == config.input_shape == (300, 80)
    np.testing.assert_array_equal(features, whisper_log_mel(window).T)
