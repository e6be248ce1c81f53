"""Speaker profile maths against numpy, and the usable / unusable rule (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest

from ser_features import EMOTIONS
from ser_features.model_metadata import AdaptationMetadata
from ser_inference.profile import SpeakerStats, usability

RULE = AdaptationMetadata(
    n_features=6, layers=("block_1",), statistics="test", std_floor=0.05, min_windows=4,
    max_dominant_share=0.7, temperature=1.0, uncertain_below=0.3, fitted_on="test",
)  # fmt: skip


def _clip(rng: np.random.Generator, n: int, label: int | None = None) -> SpeakerStats:
    features = rng.normal(3.0, 2.0, (n, RULE.n_features))
    probabilities = rng.dirichlet(np.ones(len(EMOTIONS)), n)
    if label is not None:
        probabilities[:, label] += 10.0
    return SpeakerStats.of_windows(features, probabilities, seconds=1.5 * n)


def test_statistics_merged_clip_by_clip_equal_numpy_on_every_window_at_once() -> None:
    rng = np.random.default_rng(0)
    features = [rng.normal(5.0, 3.0, (n, RULE.n_features)) for n in (1, 4, 7)]
    features[0][:, 2] = 1e4  # large offsets: sums of squares must stay exact enough
    probabilities = [rng.dirichlet(np.ones(7), len(f)) for f in features]
    stats = SpeakerStats.empty(RULE.n_features, len(EMOTIONS))
    for f, p in zip(features, probabilities, strict=True):
        stats = stats.merged(SpeakerStats.of_windows(f, p, seconds=2.0))
    everything = np.concatenate(features)
    mean, std = stats.mean_std(std_floor=1e-6)
    np.testing.assert_allclose(mean, everything.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(std, everything.std(axis=0), rtol=1e-4, atol=1e-4)
    assert (stats.n_windows, stats.clips, stats.seconds) == (12, 3, 6.0)
    best = np.argmax(np.concatenate(probabilities), axis=1)
    assert stats.label_counts.tolist() == np.bincount(best, minlength=7).tolist()


def test_the_floor_raises_a_standard_deviation_that_barely_moved() -> None:
    features = np.ones((3, RULE.n_features))
    features[:, 0] = [1.0, 2.0, 3.0]
    stats = SpeakerStats.of_windows(features, np.eye(7)[:3], seconds=3.0)
    _, std = stats.mean_std(std_floor=0.05)
    assert std[0] == pytest.approx(np.std([1.0, 2.0, 3.0]))
    assert np.all(std[1:] == np.float32(0.05))


def test_an_empty_profile_has_no_statistics_and_profiles_of_other_models_do_not_merge() -> None:
    with pytest.raises(ValueError, match="without windows"):
        SpeakerStats.empty(6, 7).mean_std(0.1)
    with pytest.raises(ValueError, match="different models"):
        SpeakerStats.empty(6, 7).merged(SpeakerStats.empty(5, 7))


def test_a_varied_profile_with_enough_windows_is_usable() -> None:
    rng = np.random.default_rng(1)
    stats = _clip(rng, 2, label=0).merged(_clip(rng, 2, label=3)).merged(_clip(rng, 2, label=4))
    assert usability(stats, RULE, EMOTIONS) is None


def test_too_few_windows_are_unusable_with_a_reason() -> None:
    reason = usability(_clip(np.random.default_rng(2), 3), RULE, EMOTIONS)
    assert reason is not None and "too little speech" in reason and "3 voiced" in reason


def test_one_manner_of_speaking_only_is_unusable_with_a_reason_naming_it() -> None:
    neutral = EMOTIONS.index("neutral")
    rng = np.random.default_rng(3)
    stats = _clip(rng, 8, label=neutral).merged(_clip(rng, 2, label=0))  # 80 % neutral
    reason = usability(stats, RULE, EMOTIONS)
    assert reason is not None and "too uniform" in reason and "neutral" in reason
    # At the limit it is still usable: 7 of 10 neutral.
    stats = _clip(rng, 7, label=neutral).merged(_clip(rng, 3, label=0))
    assert usability(stats, RULE, EMOTIONS) is None
