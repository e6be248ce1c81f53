"""EmotionClassifier: a long recording shared across threads answers exactly as on one; large
batches reach the model in bounded chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ser_inference import AudioLimits, EmotionClassifier
from ser_inference.classifier import PARALLEL_MIN_DURATION_S, WINDOWS_PER_SESSION_RUN
from tests.support.audio import harmonic_tone, wav_bytes
from tests.support.tiny_model import build_tiny_model

RATE = 16_000
LIMITS = AudioLimits(min_duration_s=0.25, max_duration_s=600.0)


def _long_recording() -> bytes:
    """Speech-like tones of changing pitch and loudness with pauses, past the threshold."""
    parts = []
    for i in range(int(PARALLEL_MIN_DURATION_S // 4) + 3):
        tone = harmonic_tone(3.0, rate=RATE, f0_hz=110.0 + 17 * i, seed=i)
        parts += [(0.2 + 0.1 * (i % 5)) * tone, np.zeros(RATE, np.float32)]
    return wav_bytes(np.concatenate(parts), rate=RATE)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Random weights: each window gets its own answer, so a misplaced chunk would show.
    return build_tiny_model(tmp_path_factory.mktemp("model") / "m.onnx", seed=7)


@pytest.mark.parametrize("threads", [2, 3])
def test_a_long_recording_on_several_threads_answers_exactly_as_on_one(
    model: Path, threads: int
) -> None:
    data = _long_recording()
    alone = EmotionClassifier.load(model).predict(data, LIMITS)
    shared = EmotionClassifier.load(model, long_recording_threads=threads).predict(data, LIMITS)
    assert alone.duration_s >= PARALLEL_MIN_DURATION_S
    assert len(shared.windows) == len(alone.windows) >= 16
    np.testing.assert_array_equal(shared.probabilities, alone.probabilities)
    for mine, theirs in zip(shared.windows, alone.windows, strict=True):
        assert (mine.start_s, mine.end_s) == (theirs.start_s, theirs.end_s)
        if theirs.probabilities is None:
            assert mine.probabilities is None
        else:
            np.testing.assert_array_equal(mine.probabilities, theirs.probabilities)


def test_a_batch_split_across_threads_keeps_its_order(model: Path) -> None:
    classifier = EmotionClassifier.load(model, long_recording_threads=2)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(40, *classifier.config.input_shape)).astype(np.float32)
    np.testing.assert_array_equal(classifier.run(batch), EmotionClassifier.load(model).run(batch))


class CountingSession:
    """An ONNX Runtime session that counts its ``run`` calls and the windows each gets."""

    def __init__(self, session) -> None:
        self.session, self.batches = session, []

    def run(self, names, feeds):
        self.batches.append(len(next(iter(feeds.values()))))
        return self.session.run(names, feeds)


def test_a_large_batch_reaches_the_model_in_bounded_chunks_in_order(model: Path) -> None:
    classifier = EmotionClassifier.load(model)
    rng = np.random.default_rng(1)
    n = 2 * WINDOWS_PER_SESSION_RUN + 3
    batch = rng.normal(size=(n, *classifier.config.input_shape)).astype(np.float32)
    one_by_one = np.concatenate([classifier.run(batch[i : i + 1]) for i in range(n)])
    classifier.session = CountingSession(classifier.session)
    np.testing.assert_allclose(classifier.run(batch), one_by_one, rtol=0, atol=1e-6)
    assert classifier.session.batches == [WINDOWS_PER_SESSION_RUN] * 2 + [3]


def test_thread_counts_below_one_are_refused(model: Path) -> None:
    with pytest.raises(ValueError, match="≥ 1"):
        EmotionClassifier.load(model, long_recording_threads=0)


def test_a_speaker_normalised_model_is_refused_not_served_wrongly(tmp_path: Path) -> None:
    import dataclasses

    from ser_inference import ModelLoadError
    from tests.support.tiny_model import tiny_metadata

    recipe = {"speaker_normalization": True, "balance": "class"}
    metadata = dataclasses.replace(tiny_metadata(), training_data={"recipe": recipe})
    path = build_tiny_model(tmp_path / "m.onnx", metadata)
    with pytest.raises(ModelLoadError, match="per-speaker normalised") as caught:
        EmotionClassifier.load(path)
    assert "\n" not in str(caught.value)
    # The same model without the option serves.
    plain = dataclasses.replace(metadata, training_data={"recipe": {"balance": "class"}})
    EmotionClassifier.load(build_tiny_model(tmp_path / "plain.onnx", plain))
