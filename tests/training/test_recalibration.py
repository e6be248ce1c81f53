"""Calibration sets built from the comparison's stored runs (no training: runs are written
here in the layout `compare` stores)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ser_features import EMOTIONS
from ser_training.calibration import tempered
from ser_training.recalibration import held_out_corpus_calibration, shifted_set

CORPORA = ("emodb", "tess")


def _probabilities(
    rng: np.random.Generator, n: int, n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the stored "model" reports softmax(2z): over-confident,
    as on unseen corpora."""
    logits = rng.normal(scale=2.0, size=(n, n_labels))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(n_labels, p=row) for row in true])
    return tempered(true, 0.5), truth


def _store(
    runs: Path, stem: str, seed: int, n_labels: int = len(EMOTIONS), **sharpen: float
) -> None:
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    arrays["validation_probabilities"], arrays["validation_truth"] = _probabilities(
        rng, 60, n_labels
    )
    for corpus in CORPORA:
        probabilities, truth = _probabilities(rng, 200, n_labels)
        arrays[f"{corpus}_probabilities"] = tempered(probabilities, 1.0 / sharpen.get(corpus, 1.0))
        arrays[f"{corpus}_truth"] = truth
        validation, validation_truth = _probabilities(rng, 60, n_labels)
        arrays[f"{corpus}_validation_probabilities"] = tempered(validation, 2.0)  # calibrated
        arrays[f"{corpus}_validation_truth"] = validation_truth
    np.savez_compressed(runs / f"{stem}.npz", **arrays)
    (runs / f"{stem}.json").write_text(json.dumps({"recipe": stem.split("__")[0], "seed": seed}))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    for seed in (1337, 1338):
        _store(tmp_path, f"baseline__seed{seed}__abc", seed)
    _store(tmp_path, "other__seed1337__def", 1337)
    return tmp_path


def test_the_shifted_set_pools_held_out_folds_of_one_recipe_only(runs: Path) -> None:
    pooled = shifted_set(runs, "baseline", len(EMOTIONS))
    assert pooled is not None and len(pooled.truth) == 2 * len(CORPORA) * 200  # no validation
    without_tess = shifted_set(runs, "baseline", len(EMOTIONS), exclude="tess")
    assert without_tess is not None and len(without_tess.truth) == 2 * 200
    assert shifted_set(runs, "baseline", len(EMOTIONS) + 1) is None  # another label set
    assert shifted_set(runs, "missing", len(EMOTIONS)) is None
    assert shifted_set(None, "baseline", len(EMOTIONS)) is None


def test_a_held_out_corpus_never_calibrates_itself(runs: Path) -> None:
    before = held_out_corpus_calibration(runs, "baseline", EMOTIONS)
    # Make TESS's own held-out predictions far more over-confident: its temperatures must not
    # move (it never calibrates itself), EMO-DB's must (TESS is part of its shifted set).
    for seed in (1337, 1338):
        _store(runs, f"baseline__seed{seed}__abc", seed, tess=4.0)
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
