"""Speaker profile maths against numpy, the usable / unusable rule (issue 24), and speaker
and domain statistics together (issue 30)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ser_features import EMOTIONS
from ser_features.model_metadata import AdaptationMetadata
from ser_inference.profile import DOMAIN, SpeakerStats, standardisation, usability

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


def test_answer_entropy_is_the_entropy_of_the_answer_shares() -> None:
    def counts(*n: int) -> SpeakerStats:
        best = np.repeat(np.arange(len(n)), n)
        return SpeakerStats.of_windows(np.zeros((len(best), 2)), np.eye(7)[best], seconds=1.0)

    assert counts(10).answer_entropy == 0.0
    assert counts(5, 5).answer_entropy == pytest.approx(np.log(2))
    share = np.array([6, 3, 1]) / 10
    assert counts(6, 3, 1).answer_entropy == pytest.approx(-(share * np.log(share)).sum())
    assert SpeakerStats.empty(2, 7).answer_entropy == 0.0


def test_answers_of_too_few_emotions_make_a_speaker_profile_unusable() -> None:
    """Issue 34: one-mood enrolments passed the dominant-share rule when the plain head
    spread their windows over two or three emotions; the entropy rule catches them."""
    rule = dataclasses.replace(RULE, min_answer_entropy=1.0)
    rng = np.random.default_rng(5)
    # 60 % angry, 40 % disgust: under the 70 % dominant share, entropy 0.67 nats.
    narrow = _clip(rng, 6, label=0).merged(_clip(rng, 4, label=1))
    assert usability(narrow, RULE, EMOTIONS) is None  # the old rule lets it through
    reason = usability(narrow, rule, EMOTIONS)
    assert reason is not None and "too uniform" in reason and "0.67 nats" in reason
    varied = _clip(rng, 3, label=0).merged(_clip(rng, 3, label=3)).merged(_clip(rng, 4, label=4))
    assert usability(varied, rule, EMOTIONS) is None  # 1.09 nats
    # A domain profile (many speakers of one place) is judged without it.
    assert usability(narrow, dataclasses.replace(rule, domain_min_windows=4), EMOTIONS,
                     kind=DOMAIN) is None  # fmt: skip


def test_a_prior_counts_as_extra_windows_of_its_mean_and_second_moment() -> None:
    """Speaker + domain (issue 30): the speaker's windows and ``k`` windows of the domain's
    moments, against numpy on the pooled arrays; the usable rule still sees the speaker's."""
    rng = np.random.default_rng(4)
    own = rng.normal(1.0, 2.0, (5, RULE.n_features))
    place = rng.normal(-3.0, 1.0, (40, RULE.n_features))
    speaker = SpeakerStats.of_windows(own, np.eye(7)[[0, 1, 0, 2, 3]], seconds=7.5)
    domain = SpeakerStats.of_windows(place, rng.dirichlet(np.ones(7), 40), seconds=60.0)
    k = 8
    combined = speaker.with_prior(domain, k)
    mean_d, second_d = place.mean(axis=0), np.square(place).mean(axis=0)
    mean = (own.sum(axis=0) + k * mean_d) / (5 + k)
    second = (np.square(own).sum(axis=0) + k * second_d) / (5 + k)
    got_mean, got_std = combined.mean_std(std_floor=1e-9)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-5)
    np.testing.assert_allclose(got_std, np.sqrt(second - mean**2), rtol=1e-4)
    assert combined.label_counts.tolist() == speaker.label_counts.tolist()
    assert combined.dominant_share == speaker.dominant_share == 0.4
    assert (combined.clips, combined.seconds) == (1, 7.5)
    assert speaker.with_prior(domain, 0).mean_std(1e-9)[0] == pytest.approx(own.mean(axis=0))
    with pytest.raises(ValueError, match="without windows"):
        speaker.with_prior(SpeakerStats.empty(RULE.n_features, 7), 4)


DOMAIN_RULE = dataclasses.replace(RULE, domain_min_windows=10, domain_prior_windows=8)


def _varied(rng: np.random.Generator, n: int) -> SpeakerStats:
    stats = SpeakerStats.empty(RULE.n_features, 7)
    for i in range(n):
        stats = stats.merged(_clip(rng, 1, label=i % 4))
    return stats


def test_speaker_and_domain_statistics_are_chosen_by_the_rule() -> None:
    rng = np.random.default_rng(5)
    speaker, domain = _varied(rng, 6), _varied(rng, 12)
    few = _varied(rng, 2)  # unusable as speaker (< 4) and as domain (< 10)
    both = standardisation(speaker, domain, DOMAIN_RULE, EMOTIONS)
    assert (both.used, both.reason) == ("speaker+domain", None)
    np.testing.assert_allclose(both.stats.total, speaker.with_prior(domain, 8).total)
    only_domain = standardisation(few, domain, DOMAIN_RULE, EMOTIONS)
    assert only_domain.used == "domain" and only_domain.stats is domain
    assert only_domain.reason.startswith("speaker profile not used: too little speech")
    only_speaker = standardisation(speaker, _varied(rng, 8), DOMAIN_RULE, EMOTIONS)
    assert only_speaker.used == "speaker" and only_speaker.stats is speaker
    assert only_speaker.reason.startswith("domain profile not used: too little speech: 8")
    neither = standardisation(few, few, DOMAIN_RULE, EMOTIONS)
    assert neither.stats is None and neither.used is None and ";" in neither.reason
    # One profile asked for: its own reason, unprefixed, as before domains existed.
    alone = standardisation(few, None, DOMAIN_RULE, EMOTIONS)
    assert alone.reason == usability(few, DOMAIN_RULE, EMOTIONS)
    assert standardisation(None, domain, DOMAIN_RULE, EMOTIONS).used == "domain"


def test_a_head_not_trained_for_domains_never_uses_a_domain_profile() -> None:
    rng = np.random.default_rng(6)
    reason = usability(_varied(rng, 20), RULE, EMOTIONS, kind=DOMAIN)
    assert reason == "this model's adapted head was not trained for domain profiles"
    assert usability(_varied(rng, 20), DOMAIN_RULE, EMOTIONS, kind=DOMAIN) is None
