"""Calibration sets built from the comparison's stored runs (no training: runs are written
here in the layout `compare` stores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ser_features import EMOTIONS
from ser_training.calibration.fit import held_out_corpus_calibration
from ser_training.calibration.shifted import shifted_set
from tests.support.compare_runs import CORPORA, FOLD_FILES, store_run


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    for seed in (1337, 1338):
        store_run(tmp_path, f"baseline__seed{seed}__abc", seed)
    store_run(tmp_path, "other__seed1337__def", 1337)
    return tmp_path


def test_the_shifted_set_pools_held_out_folds_of_one_recipe_only(runs: Path) -> None:
    pooled = shifted_set(runs, "baseline", len(EMOTIONS))
    assert (
        pooled is not None and len(pooled.truth) == 2 * len(CORPORA) * FOLD_FILES
    )  # no validation
    without_tess = shifted_set(runs, "baseline", len(EMOTIONS), exclude="tess")
    assert without_tess is not None and len(without_tess.truth) == 2 * FOLD_FILES
    assert shifted_set(runs, "baseline", len(EMOTIONS) + 1) is None  # another label set
    assert shifted_set(runs, "missing", len(EMOTIONS)) is None
    assert shifted_set(None, "baseline", len(EMOTIONS)) is None


def test_a_held_out_corpus_never_calibrates_itself(runs: Path) -> None:
    before = held_out_corpus_calibration(runs, "baseline", EMOTIONS)
    # Make TESS's own held-out predictions far more over-confident: its temperatures must not
    # move (it never calibrates itself), EMO-DB's must (TESS is part of its shifted set).
    for seed in (1337, 1338):
        store_run(runs, f"baseline__seed{seed}__abc", seed, sharpen={"tess": 4.0})
    after = held_out_corpus_calibration(runs, "baseline", EMOTIONS)
    assert after["tess"]["temperatures"] == before["tess"]["temperatures"]
    assert all(
        a > b
        for a, b in zip(
            after["emodb"]["temperatures"], before["emodb"]["temperatures"], strict=True
        )
    )
    # Validation speakers alone would answer ≈ 1 for these calibrated validation sets; the
    # shifted set pulls the temperature up towards the held-out corpora's over-confidence.
    alone = held_out_corpus_calibration(runs, "baseline", EMOTIONS, shift_aware=False)
    assert all(
        s > a
        for s, a in zip(
            before["emodb"]["temperatures"], alone["emodb"]["temperatures"], strict=True
        )
    )
