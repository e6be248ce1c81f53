"""Stored `ser-train compare` runs without training: arrays in the layout `compare` writes
(``<corpus>_probabilities`` etc.), drawn from a known model of the truth."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ser_features import EMOTIONS
from ser_training.calibration.temperature import tempered

CORPORA = ("emodb", "tess")
FOLD_FILES = 200  # scored utterances per held-out corpus
VALIDATION_FILES = 60


def draw(
    rng: np.random.Generator, n: int, n_labels: int, columns: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the stored "model" reports softmax(2z), over-confident as
    on unseen corpora, with its columns reordered by ``columns`` (a model that consistently
    mistakes one emotion for another). Returns (probabilities (n, n_labels), truth (n,))."""
    logits = rng.normal(scale=2.0, size=(n, n_labels))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(n_labels, p=row) for row in true])
    reported = tempered(true, 0.5)
    return (reported if columns is None else reported[:, list(columns)]), truth


def store_run(
    runs: Path, stem: str, seed: int, n_labels: int = len(EMOTIONS), *,
    sharpen: Mapping[str, float] | None = None, columns: Sequence[int] | None = None,
) -> None:  # fmt: skip
    """Write ``<stem>.npz`` and ``<stem>.json``; ``sharpen[corpus]`` makes that corpus's held-out
    predictions more over-confident; fold validation speakers are calibrated."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    arrays["validation_probabilities"], arrays["validation_truth"] = draw(
        rng, VALIDATION_FILES, n_labels, columns
    )
    for corpus in CORPORA:
        probabilities, truth = draw(rng, FOLD_FILES, n_labels, columns)
        factor = (sharpen or {}).get(corpus, 1.0)
        arrays[f"{corpus}_probabilities"] = tempered(probabilities, 1.0 / factor)
        arrays[f"{corpus}_truth"] = truth
        validation, validation_truth = draw(rng, VALIDATION_FILES, n_labels, columns)
        arrays[f"{corpus}_validation_probabilities"] = tempered(validation, 2.0)
        arrays[f"{corpus}_validation_truth"] = validation_truth
    np.savez_compressed(runs / f"{stem}.npz", **arrays)
    (runs / f"{stem}.json").write_text(json.dumps({"recipe": stem.split("__")[0], "seed": seed}))
