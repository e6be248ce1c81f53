"""Domain profiles' training pieces (issue 30): the masked head against scikit-learn, the
training set's per-corpus and per-speaker standardisation, and the protocol's answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ser_features import EMOTIONS
from ser_features.model_metadata import AdaptationMetadata
from ser_training.adaptation.domains import (
    DOMAIN_DRAWS,
    corpus_labels,
    score_corpus,
    training_set,
)
from ser_training.adaptation.embeddings import ClipEmbeddings
from ser_training.adaptation.head import fit_masked_head, standardised
from ser_training.adaptation.protocol import stats_of

RULE = AdaptationMetadata(
    n_features=4, layers=("block_1",), statistics="test", std_floor=1e-2, min_windows=2,
    max_dominant_share=1.0, temperature=1.0, uncertain_below=0.3, fitted_on="test",
    domain_min_windows=6, domain_prior_windows=4,
)  # fmt: skip


def _toy(seed: int = 0) -> ClipEmbeddings:
    """Two corpora, two speakers each; corpus "b" has no disgust and lives at another offset
    (its place), and every label moves the features its own way."""
    rng = np.random.default_rng(seed)
    corpus, speaker, label, sizes = [], [], [], []
    for c, labels in (("a", EMOTIONS), ("b", tuple(e for e in EMOTIONS if e != "disgust"))):
        for s in (1, 2):
            for i in range(28):
                corpus.append(c)
                speaker.append(f"{c}:{s}")
                label.append(labels[i % len(labels)])
                sizes.append(1 + i % 2)
    n = int(np.sum(sizes))
    direction = rng.normal(0, 1, (7, 4))
    clip_label = np.repeat([EMOTIONS.index(x) for x in label], sizes)
    clip_corpus = np.repeat(corpus, sizes)
    features = direction[clip_label] + rng.normal(0, 0.3, (n, 4))
    features += np.where(clip_corpus == "b", 5.0, 0.0)[:, None]
    return ClipEmbeddings(
        corpus=np.array(corpus), speaker=np.array(speaker), label=np.array(label),
        path=np.array([f"{i}.wav" for i in range(len(label))]),
        seconds=np.full(len(label), 3.0), offsets=np.concatenate([[0], np.cumsum(sizes)]),
        features=features.astype(np.float32),
        probabilities=rng.dirichlet(np.ones(7), n).astype(np.float32),
    )  # fmt: skip


def test_with_every_label_present_the_masked_head_is_scikit_learn_s_logistic_regression() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (300, 5)) * [1, 2, 3, 4, 5] + 7
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.5, 300) > 8).astype(int) + 2 * (x[:, 2] > 7)
    head = fit_masked_head(x, y, np.ones((300, 7), bool), c=0.5, max_iter=2000)
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced", tol=1e-8)
    reference.fit(scaler.transform(x), y)
    ours = head.probabilities(x.astype(np.float32))
    np.testing.assert_allclose(ours[:, :4], reference.predict_proba(scaler.transform(x)), atol=2e-3)
    assert np.all(ours[:, 4:] < 1e-9)  # labels no window has: never answered


def test_a_label_absent_from_a_corpus_is_no_evidence_against_it() -> None:
    """Corpus B has no class 1. Unmasked, its class-0 windows (which look like class 1)
    pull class 1 down to a coin toss; masked, class 1 keeps the score corpus A gives it."""
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, (200, 2)) + np.repeat([[0, 0], [3, 3]], 100, axis=0)
    b = rng.normal(0, 1, (200, 2)) + np.array([3, 3])  # class 0 here; class 1's place in A
    x = np.concatenate([a, b])
    y = np.concatenate([np.repeat([0, 1], 100), np.zeros(200, int)])
    present = np.ones((400, 7), bool)
    present[200:, 1] = False
    masked = fit_masked_head(x, y, present, c=1.0)
    unmasked = fit_masked_head(x, y, np.ones((400, 7), bool), c=1.0)
    probe = np.array([[3.0, 3.0]], np.float32)
    assert masked.probabilities(probe)[0, 1] > 0.9 > 0.7 > unmasked.probabilities(probe)[0, 1]
    with pytest.raises(ValueError, match="among its corpus's labels"):
        fit_masked_head(x, np.ones(400, int), present, c=1.0)


def test_the_training_set_standardises_each_corpus_and_each_speaker_with_its_own_draws() -> None:
    e = _toy()
    speakers = ["a:1", "a:2", "b:1"]
    chosen = np.isin(e.speaker, speakers)
    n_windows = {c: int(sum(e.offsets[i + 1] - e.offsets[i] for i in np.flatnonzero(chosen & (e.corpus == c)))) for c in "ab"}  # fmt: skip
    own = {s: int(sum(e.offsets[i + 1] - e.offsets[i] for i in np.flatnonzero(e.speaker == s))) for s in speakers}  # fmt: skip
    t = training_set(e, speakers, EMOTIONS, 1e-2, seed=0, domain_draws=("all",),
                     speaker_draws=("all",))  # fmt: skip
    assert len(t.y) == n_windows["a"] + n_windows["b"] + sum(own.values())
    # The first block: corpus a standardised with every window of a's chosen speakers.
    clips_a = np.flatnonzero(chosen & (e.corpus == "a"))
    rows_a = np.concatenate([np.arange(e.offsets[i], e.offsets[i + 1]) for i in clips_a])
    expected = standardised(e.features[rows_a], stats_of(e, clips_a), 1e-2)
    np.testing.assert_allclose(t.x[: len(rows_a)], expected, rtol=1e-5)
    has = corpus_labels(e, EMOTIONS)
    assert not has["b"][EMOTIONS.index("disgust")] and has["a"].all()
    assert not t.present[len(rows_a) : len(rows_a) + n_windows["b"], 1].any()
    assert t.present[np.arange(len(t.y)), t.y].all()


def test_the_protocol_answers_every_way_and_a_domain_profile_removes_a_place_s_offset() -> None:
    e = _toy()
    t = training_set(e, ["a:1", "a:2"], EMOTIONS, 1e-2, seed=0)
    head = fit_masked_head(t.x, t.y, t.present, c=1.0)
    answers = score_corpus(e, "b", ["b:1", "b:2"], head, RULE, EMOTIONS, seed=0)
    assert set(answers) == {"plain", "speaker", "both"} | {f"domain:{d}" for d in DOMAIN_DRAWS}
    accuracy = {k: float((v.chosen == v.truth).mean()) for k, v in answers.items()}
    # Corpus b sits 5 units away: standardised by its own statistics the head trained on a
    # recognises it; the random plain probabilities are at chance.
    assert accuracy["domain:all"] > 0.8 > 0.4 > accuracy["plain"]
    assert answers["domain:all"].adapted.all() and not answers["plain"].adapted.any()
    assert accuracy["both"] > 0.8
