"""Example weighting: classes count equally, and corpora count equally within a class."""

from __future__ import annotations

import numpy as np
import pytest

from ser_training.model.trainer import balanced_sample_weights


def total_weight(weights: np.ndarray, mask: np.ndarray) -> float:
    return float(weights[mask].sum())


def test_every_class_gets_the_same_total_weight() -> None:
    labels = np.array([0] * 50 + [1] * 10 + [2] * 5)
    groups = np.zeros(len(labels), dtype=int)
    weights = balanced_sample_weights(labels, groups)
    totals = [total_weight(weights, labels == c) for c in range(3)]
    assert totals == pytest.approx([totals[0]] * 3)
    assert weights.mean() == pytest.approx(1.0)


def test_a_big_corpus_does_not_outweigh_a_small_one_within_a_class() -> None:
    # Corpus "big" has 9x the files of "small"; class 1 exists only in "big".
    labels = np.array([0] * 90 + [1] * 90 + [0] * 10)
    groups = np.array(["big"] * 180 + ["small"] * 10)
    weights = balanced_sample_weights(labels, groups)
    big0 = total_weight(weights, (labels == 0) & (groups == "big"))
    small0 = total_weight(weights, (labels == 0) & (groups == "small"))
    assert big0 == pytest.approx(small0)
    assert big0 + small0 == pytest.approx(total_weight(weights, labels == 1))
    assert weights.dtype == np.float32 and np.all(weights > 0)


def test_speaker_level_gives_every_speaker_of_a_corpus_the_same_share() -> None:
    # One class, one corpus: speaker "a" has 30 windows, speaker "b" 10.
    labels = np.zeros(40, dtype=int)
    corpora = np.array(["c"] * 40)
    speakers = np.array(["a"] * 30 + ["b"] * 10)
    weights = balanced_sample_weights(labels, corpora, speakers)
    assert total_weight(weights, speakers == "a") == pytest.approx(
        total_weight(weights, speakers == "b")
    )
    assert weights.mean() == pytest.approx(1.0)


def test_label_masks_allow_only_the_labels_a_corpus_has() -> None:
    from ser_training.features.windows import WindowSet
    from ser_training.model.trainer import label_masks

    class U:
        def __init__(self, corpus: str) -> None:
            self.corpus, self.speaker = corpus, f"{corpus}:1"

    windows = WindowSet(
        features=np.zeros((3, 2, 2), np.float32), labels=np.array([0, 1, 0]),
        utterance=np.array([0, 1, 1]), utterances=[U("full"), U("part")],
    )  # fmt: skip
    mask = label_masks(windows, ["angry", "sad", "surprised"], {"part": {"angry", "sad"}})
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 1, 0], [1, 1, 0]])
    assert label_masks(windows, ["angry", "sad", "surprised"], None).all()
