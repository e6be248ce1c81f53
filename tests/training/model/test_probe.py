"""The linear probe: pooled encoder layers, C by speaker-grouped cross-validation."""

from __future__ import annotations

import numpy as np
import pytest

from ser_training.model.probe import PROBE_C, fit_probe, pooled


def test_pooling_is_each_layers_mean_and_std_over_time() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    out = pooled(x)
    assert out.shape == (2, 3 * 2 * 5)
    np.testing.assert_allclose(out[1, :5], x[1, 0].mean(axis=0))
    np.testing.assert_allclose(out[1, 5:10], x[1, 0].std(axis=0))


def test_a_probe_learns_separable_classes_and_leaves_unseen_labels_at_zero() -> None:
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    n, n_labels = 240, 7
    labels = rng.integers(0, 3, n)  # labels 3..6 never occur
    centres = rng.normal(scale=2.0, size=(3, 2, 8))
    features = (centres[labels][:, :, None, :] + rng.normal(size=(n, 2, 6, 8))).astype(np.float16)
    speakers = np.arange(n) % 6
    probe = fit_probe(features, labels, speakers, np.ones(n, np.float32), n_labels)
    assert probe.chosen_c in PROBE_C
    probabilities = probe.predict(features, batch_size=50)
    assert probabilities.shape == (n, n_labels)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(probabilities[:, 3:] == 0)
    assert np.mean(probabilities.argmax(axis=1) == labels) > 0.9
