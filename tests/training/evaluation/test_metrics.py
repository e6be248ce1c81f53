"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from ser_training.evaluation.metrics import classification_metrics

LABELS = ["a", "b", "c"]


def test_metrics_on_a_hand_checked_example() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2])
    guess = np.array([0, 0, 1, 1, 0, 2])
    m = classification_metrics(truth, guess, LABELS)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["uar"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["per_class"]["a"]["precision"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert m["prediction_distribution"] == {"a": 3, "b": 2, "c": 1}


def test_absent_classes_do_not_enter_uar_but_wrong_predictions_count() -> None:
    m = classification_metrics(np.array([0, 0, 1]), np.array([0, 2, 1]), LABELS)
    assert m["labels_present"] == ["a", "b"]
    assert m["uar"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["accuracy"] == pytest.approx(2 / 3)
