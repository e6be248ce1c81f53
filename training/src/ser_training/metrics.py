"""Classification metrics at the utterance level (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
