"""Stored comparison runs: each finished (recipe, seed) run of `ser-train compare` is a JSON
record plus an NPZ of utterance probabilities (``validation_probabilities``,
``<corpus>_probabilities``, ``<corpus>_truth``, …). Read by the comparison table, the
calibration (held-out-corpus predictions) and the affect-head comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {
            k: data[k].astype(np.float64) if data[k].dtype.kind == "f" else data[k] for k in data
        }
