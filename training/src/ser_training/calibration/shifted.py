"""The calibration set that carries the shift users meet: predictions on corpora the predicting
model never saw, pooled from the comparison's stored held-out-corpus folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ser_training.calibration.temperature import CalibrationSet
from ser_training.evaluation.runs import load_arrays


def shifted_set(
    runs_dir: Path | None, recipe: str, n_labels: int, exclude: str | None = None
) -> CalibrationSet | None:
    """Predictions on corpora the predicting model never saw: the calibration set that carries
    the shift users meet (new microphones, new corpora), without touching a test speaker.

    Pools the held-out-corpus folds of every stored comparison run of ``recipe`` (each fold's
    model trained without that corpus, scored on its non-test speakers; uncalibrated utterance
    probabilities, shape (n, n_labels); runs over another label set are skipped), leaving out
    corpus ``exclude``. None when there is none.
    """
    if runs_dir is None or not runs_dir.is_dir():
        return None
    probabilities, truth = [], []
    for path in sorted(runs_dir.glob(f"{recipe}__*.npz")):
        arrays = load_arrays(path)
        for key in sorted(arrays):
            corpus = key.removesuffix("_validation_probabilities")
            if corpus == key or corpus in ("validation", exclude):
                continue  # only the fold corpora's own (held-out) predictions
            if arrays[f"{corpus}_probabilities"].shape[1] != n_labels:
                continue
            probabilities.append(arrays[f"{corpus}_probabilities"])
            truth.append(arrays[f"{corpus}_truth"])
    if not probabilities:
        return None
    return CalibrationSet.of_utterances(np.concatenate(probabilities), np.concatenate(truth))
