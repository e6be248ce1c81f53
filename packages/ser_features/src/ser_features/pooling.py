"""Window probabilities → one answer per recording: the single rule training and serving share.

A recording's windows all hold the same seconds of audio (the last one is aligned to the
recording's end; a recording shorter than one window has one window), so the plain mean of
their probabilities is the duration-weighted mean too.
"""

from __future__ import annotations

import numpy as np


def utterance_probabilities(
    window_probabilities: np.ndarray, utterance: np.ndarray | None = None
) -> np.ndarray:
    """Mean of the window probabilities of each recording, each row renormalised to sum to 1.

    Parameters
    ----------
    window_probabilities : np.ndarray, shape (n_windows, n_labels), rows sum to 1
    utterance : np.ndarray, shape (n_windows,), int, optional
        Index of the recording each window belongs to (0 … n_utterances − 1); default: all
        windows belong to one recording.

    Returns
    -------
    np.ndarray, shape (n_utterances, n_labels), float64
    """
    probabilities = np.asarray(window_probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) == 0:
        raise ValueError(
            f"expected (n_windows ≥ 1, n_labels) probabilities, got {probabilities.shape}"
        )
    if utterance is None:
        utterance = np.zeros(len(probabilities), dtype=np.int64)
    if utterance.shape != (len(probabilities),):
        raise ValueError(f"{len(probabilities)} windows but {utterance.shape} utterance indices")
    n = int(utterance.max()) + 1
    sums = np.zeros((n, probabilities.shape[1]))
    np.add.at(sums, utterance, probabilities)
    totals = sums.sum(axis=1, keepdims=True)
    # An index with no window keeps a zero row rather than dividing by zero.
    return np.divide(sums, totals, out=np.zeros_like(sums), where=totals > 0)
