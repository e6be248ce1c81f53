"""The learned arousal/valence heads against the mapping derived from class probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ser_features import EMOTIONS
from ser_training.calibration.affect_heads import (
    affect_heads_table,
    compare_affect_heads,
    fit_logistic,
    learned_arousal_wins,
    logistic_probability,
)
from tests.support.compare_runs import store_run


def test_logistic_regression_recovers_a_known_rule() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2))
    truth = np.array([2.0, -1.0, 0.5])
    y = rng.random(len(x)) < 1 / (1 + np.exp(-(x @ truth[:2] + truth[2])))
    beta = fit_logistic(x, y)
    np.testing.assert_allclose(beta, truth, atol=0.1)
    # Doubling every example's weight changes nothing; probabilities stay in (0, 1).
    np.testing.assert_allclose(fit_logistic(x, y, np.full(len(y), 2.0)), beta, atol=1e-9)
    p = logistic_probability(beta, x)
    assert np.all((p > 0) & (p < 1))


def swapped_columns() -> list[int]:
    """A model that reports angry as sad and sad as angry (and happy ↔ neutral)."""
    columns = list(range(len(EMOTIONS)))
    for a, b in (("angry", "sad"), ("happy", "neutral")):
        i, j = EMOTIONS.index(a), EMOTIONS.index(b)
        columns[i], columns[j] = columns[j], columns[i]
    return columns


@pytest.mark.parametrize("columns", [None, swapped_columns()], ids=["faithful", "swapped"])
def test_the_comparison_scores_both_answers_on_each_held_out_corpus(
    tmp_path: Path, columns: list[int] | None
) -> None:
    for seed in (1337, 1338):
        store_run(tmp_path, f"baseline__seed{seed}__abc", seed, columns=columns)
    figures = compare_affect_heads(tmp_path, "baseline", EMOTIONS)
    assert set(figures) == {"emodb", "tess", "mean"}
    for corpus, f in figures.items():
        assert f["runs"] == 2, corpus
        for kind in ("derived", "learned"):
            assert 0.0 <= f[kind]["arousal_accuracy"] <= 1.0
            assert 0.0 <= f[kind]["valence_sign_accuracy"] <= 1.0
    mean = figures["mean"]
    if columns is None:  # the mapping is right: learning it again gains little
        assert mean["learned"]["arousal_accuracy"] < mean["derived"]["arousal_accuracy"] + 0.05
    else:  # the mapping reads swapped columns; a head learns the swap from unseen corpora
        assert mean["learned"]["arousal_accuracy"] > mean["derived"]["arousal_accuracy"] + 0.1
    # The served model follows the same figures: the learned head only where it wins.
    assert learned_arousal_wins(tmp_path, "baseline", EMOTIONS) == (columns is not None)
    table = affect_heads_table(figures, "baseline", tmp_path)
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3  # header, rule, two corpora and the mean


def test_no_runs_means_no_figures(tmp_path: Path) -> None:
    assert compare_affect_heads(tmp_path, "baseline", EMOTIONS) == {}
    assert not learned_arousal_wins(tmp_path, "baseline", EMOTIONS)
    assert not learned_arousal_wins(None, "baseline", EMOTIONS)
