"""utterance_probabilities: the one rule that turns window answers into a recording's answer."""

from __future__ import annotations

import numpy as np
import pytest

from ser_features import utterance_probabilities


def test_each_recording_gets_the_mean_of_its_own_windows() -> None:
    windows = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    owner = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(utterance_probabilities(windows, owner), [[0.5, 0.5], [0.4, 0.6]])


def test_rows_sum_to_one_and_one_recording_is_the_default() -> None:
    rng = np.random.default_rng(0)
    windows = rng.dirichlet(np.ones(7), size=5).astype(np.float32)
    (row,) = utterance_probabilities(windows)
    assert row.dtype == np.float64
    assert row.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(row, windows.mean(axis=0), atol=1e-6)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="n_windows"):
        utterance_probabilities(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="utterance indices"):
        utterance_probabilities(np.ones((2, 3)) / 3, np.array([0]))
