"""The adaptation protocol's pieces: enrolment draws, profiles built clip by clip, the head
with its scaler folded in, and the answers as the graph computes them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ser_features import EMOTIONS
from ser_features.model_metadata import AdaptationMetadata
from ser_training.adaptation.embeddings import ClipEmbeddings
from ser_training.adaptation.head import fit_head, standardised
from ser_training.adaptation.protocol import draw_enrolment, speaker_answers, stats_of

LABELS = np.array(["neutral"] * 20 + ["angry"] * 10 + ["sad"] * 10)


def _embeddings(n_clips: int = 12, n_features: int = 5, seed: int = 0) -> ClipEmbeddings:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, n_clips)
    n = int(sizes.sum())
    return ClipEmbeddings(
        corpus=np.array(["toy"] * n_clips), speaker=np.array(["toy:1"] * n_clips),
        label=np.array([EMOTIONS[i % 7] for i in range(n_clips)]),
        path=np.array([f"{i}.wav" for i in range(n_clips)]), seconds=np.full(n_clips, 3.0),
        offsets=np.concatenate([[0], np.cumsum(sizes)]),
        features=rng.normal(2.0, 1.5, (n, n_features)).astype(np.float32),
        probabilities=rng.dirichlet(np.ones(7), n).astype(np.float32),
    )  # fmt: skip


def test_draws_have_their_sizes_and_mixes() -> None:
    clips = np.arange(len(LABELS))
    rng = np.random.default_rng(0)
    assert len(set(draw_enrolment("random_10", clips, LABELS, rng))) == 10
    assert len(draw_enrolment("random_300", clips, LABELS, rng)) == len(clips)  # capped
    mix = draw_enrolment("neutral_60_30", clips, LABELS, rng)
    assert len(set(mix)) == 30 and (LABELS[mix] == "neutral").sum() == 18
    calm = draw_enrolment("neutral_only_10", clips, LABELS, rng)
    assert len(calm) == 10 and set(LABELS[calm]) == {"neutral"}
    assert draw_enrolment("neutral_only_10", clips[20:], LABELS[20:], rng) is None
    with pytest.raises(ValueError, match="unknown"):
        draw_enrolment("loud_10", clips, LABELS, rng)


def test_a_profile_built_clip_by_clip_is_numpy_s_statistics_of_its_windows() -> None:
    e = _embeddings()
    clips = np.array([1, 4, 7])
    stats = stats_of(e, clips)
    rows = np.concatenate([np.arange(e.offsets[c], e.offsets[c + 1]) for c in clips])
    mean, std = stats.mean_std(1e-6)
    np.testing.assert_allclose(mean, e.features[rows].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std, e.features[rows].std(axis=0), rtol=1e-4)
    assert stats.clips == 3 and stats.n_windows == len(rows)


def test_the_folded_head_answers_as_scaler_then_logistic_regression() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (200, 6))
    y = (x[:, 0] + rng.normal(0, 0.5, 200) > 3.0).astype(int) * 4  # labels 0 and 4 of 7
    head = fit_head(x, y, n_labels=7, c=0.5)
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=0.5, max_iter=300, class_weight="balanced").fit(
        scaler.transform(x), y
    )
    expected = reference.predict_proba(scaler.transform(x))
    got = head.probabilities(x.astype(np.float32))
    np.testing.assert_allclose(got[:, [0, 4]], expected, atol=1e-4)
    assert got[:, [1, 2, 3, 5, 6]].max() < 1e-9  # labels never seen get (almost) nothing


def test_an_unusable_profile_is_answered_plain_and_a_forced_one_adapted() -> None:
    e = _embeddings(n_clips=10)
    rng = np.random.default_rng(2)
    head = fit_head(rng.normal(0, 1, (70, 5)), np.arange(70) % 7, n_labels=7, c=1.0)
    rule = AdaptationMetadata(
        n_features=5, layers=("x",), statistics="", std_floor=1e-2, min_windows=1000,
        max_dominant_share=1.0, temperature=1.0, uncertain_below=0.0, fitted_on="",
    )  # fmt: skip
    clips = np.arange(10)
    answers = speaker_answers(e, clips, clips[:5], head, rule, EMOTIONS)
    assert not answers.usable and "too little speech" in answers.reason
    np.testing.assert_array_equal(answers.served, answers.plain)
    x = standardised(e.features, stats_of(e, clips[:5]), rule.std_floor)
    first = head.probabilities(x[e.offsets[0] : e.offsets[1]]).mean(axis=0).argmax()
    assert answers.forced[0] == first
