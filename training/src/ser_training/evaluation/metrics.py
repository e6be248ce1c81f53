"""Classification metrics at the utterance level (numpy only; no TensorFlow)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ser_training.data.corpora import Utterance
from ser_training.data.splits import TEST_SPEAKERS, speaker_id


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """Counts, shape (n_labels, n_labels): rows are true labels, columns predictions."""
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, unweighted average recall (UAR), macro and per-class P/R/F1, confusion.

    Only labels present in ``y_true`` enter the macro averages and UAR, so a corpus without
    'surprised' is not penalised for it; predictions of absent labels still count as errors.
    """
    n = len(labels)
    matrix = confusion_matrix(y_true, y_pred, n)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    true_positive = np.diag(matrix)
    precision = np.divide(true_positive, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.zeros(n), where=support > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(n), where=(precision + recall) > 0
    )
    present = support > 0
    total = int(support.sum())
    return {
        "n": total,
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "labels_present": [labels[i] for i in np.flatnonzero(present)],
        "per_class": {
            labels[i]: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in range(n)
        },
        "prediction_distribution": {labels[i]: int(predicted[i]) for i in range(n)},
        "confusion_matrix": matrix.tolist(),
    }


def score_probabilities(
    probabilities: np.ndarray, truth: np.ndarray, labels: Sequence[str],
    restrict_to_present: bool = False,
) -> dict:  # fmt: skip
    """Metrics of utterance probabilities, shape (n_utterances, n_labels), against their truth
    label indices, shape (n_utterances,). With ``restrict_to_present`` the answer is chosen
    only among the labels present in the truth (used across corpora, where a corpus lacks a
    class the model knows)."""
    if restrict_to_present:
        absent = np.setdiff1d(np.arange(len(labels)), np.unique(truth))
        probabilities = probabilities.copy()
        probabilities[:, absent] = -1.0
    return classification_metrics(truth, probabilities.argmax(axis=1), labels)


def speaker_group_scores(
    utterances: Sequence[Utterance], probabilities: np.ndarray, truth: np.ndarray,
    labels: Sequence[str],
) -> dict[str, dict]:  # fmt: skip
    """Held-out-corpus scores split by its usual test speakers and the rest.

    ``probabilities`` are the utterance probabilities of ``utterances``, shape
    (n_utterances, n_labels); ``truth`` their label indices, shape (n_utterances,). Recipe choices (features, weighting, augmentation) are made on
    the 'other_speakers' figures only, so the 'test_speakers' figures stay untouched by any
    choice.
    """
    is_test = np.array([speaker_id(u) in TEST_SPEAKERS.get(u.corpus, ()) for u in utterances])
    out: dict[str, dict] = {}
    for name, members in (("test_speakers", is_test), ("other_speakers", ~is_test)):
        if not members.any():
            continue
        m = score_probabilities(
            probabilities[members], truth[members], labels, restrict_to_present=True
        )
        speakers = sorted(
            {speaker_id(u) for u, keep in zip(utterances, members, strict=True) if keep}
        )
        out[name] = {k: m[k] for k in ("n", "accuracy", "uar")} | {"speakers": speakers}
    return out
