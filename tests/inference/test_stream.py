"""The stream scorer cuts, scores and summarises exactly as ``/predict`` does, when fed the
audio in pieces of any size (ser_inference.stream)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from ser_features import FeatureConfig, split_windows, voiced_bounds
from ser_inference import AudioLimits, EmotionClassifier, Prediction
from ser_inference.stream import StreamScorer, StreamWindower
from tests.support.audio import SAMPLE_RATE, harmonic_tone, wav_bytes
from tests.support.tiny_model import TINY_CONFIG, build_tiny_model

TOLERANCE = 1e-6  # the parity bound, on every probability


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> EmotionClassifier:
    return EmotionClassifier.load(build_tiny_model(tmp_path_factory.mktemp("m") / "tiny.onnx"))


def pieces(signal: np.ndarray, seed: int, largest: int = 9_000) -> list[np.ndarray]:
    """``signal`` cut at random points, empty pieces included."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, len(signal) + 1, size=max(1, len(signal) // (largest // 2))))
    return np.split(signal, cuts)


def streamed_windows(signal: np.ndarray, config: FeatureConfig, seed: int) -> list:
    windower = StreamWindower(config)
    windows = [w for piece in pieces(signal, seed) for w in windower.push(piece)]
    return windows + windower.finish()


@pytest.mark.parametrize(
    "n_samples",
    [100, 8_000, 16_000, 16_001, 24_000, 40_000, 40_123, 16_000 * 7],
    ids=lambda n: f"{n}samples",
)
def test_streamed_windows_are_split_windows_of_the_whole_signal(n_samples: int) -> None:
    signal = harmonic_tone(n_samples / SAMPLE_RATE, seed=3)
    if n_samples >= 40_000:
        signal[8_000:32_000] = 0.0  # a silent stretch inside, longer than a window
    expected = split_windows(signal, TINY_CONFIG, trim=False)
    actual = streamed_windows(signal, TINY_CONFIG, seed=n_samples)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert (got.start_s, got.end_s, got.n_audio, got.silent) == (
            want.start_s, want.end_s, want.n_audio, want.silent,
        )  # fmt: skip
        assert got.rms_dbfs == want.rms_dbfs
        np.testing.assert_array_equal(got.samples, want.samples)
    assert any(w.silent for w in expected) == (n_samples >= 40_000)  # the gap is judged too


def test_the_windower_holds_about_one_window_however_long_the_stream() -> None:
    windower = StreamWindower(TINY_CONFIG)
    chunk = harmonic_tone(0.1, seed=1)
    for _ in range(600):  # one minute
        windower.push(chunk)
        assert windower.held <= windower.size + windower.hop + len(chunk)
    assert windower.received_s == pytest.approx(60.0)


def test_a_finished_stream_takes_no_more_audio() -> None:
    windower = StreamWindower(TINY_CONFIG)
    windower.push(harmonic_tone(0.5))
    assert len(windower.finish()) == 1
    assert windower.finish() == []
    with pytest.raises(RuntimeError):
        windower.push(harmonic_tone(0.5))


def untrimmed_speech(seconds: float, seed: int, gap: bool = False) -> np.ndarray:
    """Speech-like audio that ``/predict`` does not trim (voiced in its first and last
    frames), optionally with 1 s of silence inside."""
    signal = harmonic_tone(seconds, seed=seed)
    if gap:
        signal[SAMPLE_RATE : 2 * SAMPLE_RATE] = 0.0
    return signal


def assert_same_answers(streamed: list, answer, prediction: Prediction) -> None:
    assert len(streamed) == len(prediction.windows)
    for got, want in zip(streamed, prediction.windows, strict=True):
        assert (got.start_s, got.end_s, got.silent) == (want.start_s, want.end_s, want.silent)
        if want.silent:
            assert got.probabilities is None and got.judgement is None
            continue
        np.testing.assert_allclose(got.probabilities, want.probabilities, atol=TOLERANCE, rtol=0)
        assert got.judgement.emotion == want.judgement.emotion
        assert got.judgement.uncertain == want.judgement.uncertain
        assert abs(got.judgement.arousal - want.judgement.arousal) <= TOLERANCE
        assert abs(got.judgement.valence - want.judgement.valence) <= TOLERANCE
    np.testing.assert_allclose(answer.probabilities, prediction.probabilities, atol=TOLERANCE)
    assert answer.judgement.emotion == prediction.emotion
    assert answer.n_windows == len(prediction.windows)
    assert answer.duration_s == pytest.approx(prediction.duration_s)


@pytest.mark.parametrize(
    ("seconds", "gap"), [(0.7, False), (1.0, False), (4.3, False), (6.0, True)]
)
def test_streamed_answers_equal_predict_for_audio_predict_does_not_trim(
    classifier: EmotionClassifier, seconds: float, gap: bool
) -> None:
    signal = untrimmed_speech(seconds, seed=5, gap=gap)
    # What is claimed holds for this audio only: /predict keeps every sample of it.
    assert voiced_bounds(signal, classifier.config) == (0, len(signal))
    upload = wav_bytes(signal)
    prediction = classifier.predict(upload, AudioLimits())
    signal, _ = soundfile.read(io.BytesIO(upload), dtype="float32")  # as /predict decodes it
    scorer = StreamScorer(classifier)
    streamed = [w for piece in pieces(signal, seed=1) for w in scorer.push(piece)]
    last, answer = scorer.finish()
    assert_same_answers(streamed + last, answer, prediction)
    assert any(w.silent for w in prediction.windows) == gap


def test_a_silent_stream_is_summarised_as_silent(classifier: EmotionClassifier) -> None:
    scorer = StreamScorer(classifier)
    windows = scorer.push(np.zeros(3 * SAMPLE_RATE, dtype=np.float32))
    last, answer = scorer.finish()
    assert windows and all(w.silent for w in windows + last)
    assert answer.judgement is None and answer.probabilities is None
    assert answer.n_windows == len(windows + last)


def test_an_empty_stream_has_no_windows(classifier: EmotionClassifier, tmp_path: Path) -> None:
    last, answer = StreamScorer(classifier).finish()
    assert last == [] and answer.n_windows == 0 and answer.judgement is None
