"""The adapted head: multinomial logistic regression on per-speaker-standardised speaker
features, folded into one (weights, bias) pair the graph applies after the standardisation.

Training speakers are standardised with profiles like those users enrol (every clip of the
speaker, 10 and 30 random clips, 30 clips 60 % neutral): the head learns the input it will get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ser_inference.profile import SpeakerStats

HEAD_C = (0.003, 0.01, 0.03)  # inverse L2 strength; 4,608 inputs and ~20 training speakers
STD_FLOOR = 1e-2  # a profile's standard deviations are raised to at least this (feature units)


def standardised(features: np.ndarray, stats: SpeakerStats, std_floor: float) -> np.ndarray:
    """(n, n_features) → (n, n_features) float32: (features − mean) / max(std, floor), the
    graph's standardisation (adaptation_graph.add_adapted_head)."""
    mean, std = stats.mean_std(std_floor)
    return ((features - mean) / std).astype(np.float32)


@dataclass(frozen=True)
class AdaptedHead:
    """logits = standardised features @ weights + bias; probabilities softmax(logits / T)."""

    weights: np.ndarray  # (n_features, n_labels) float32
    bias: np.ndarray  # (n_labels,) float32
    c: float  # the chosen inverse regularisation strength

    def logits(self, standardised_features: np.ndarray) -> np.ndarray:
        return standardised_features @ self.weights + self.bias

    def probabilities(
        self, standardised_features: np.ndarray, temperature: float = 1.0
    ) -> np.ndarray:
        """(n, n_features) → (n, n_labels) float64 softmax of logits / ``temperature``."""
        z = self.logits(standardised_features).astype(np.float64) / temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def fit_head(x: np.ndarray, y: np.ndarray, n_labels: int, c: float, seed: int = 0) -> AdaptedHead:
    """Fit on standardised windows ``x`` (n, n_features) with label indices ``y`` (n,); classes
    weighted by their frequency; labels never seen get a very negative bias."""
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=300, class_weight="balanced", random_state=seed).fit(
        scaler.transform(x), y
    )
    # Fold the scaler in: ((x − μ) / σ) W + b = x (W / σ) + (b − (μ / σ) W).
    w = np.zeros((x.shape[1], n_labels))
    b = np.full(n_labels, -30.0)
    coef, intercept = model.coef_.T, model.intercept_
    if len(model.classes_) == 2:  # one logit a for the second class: softmax(−a/2, a/2) = σ(a)
        coef, intercept = np.hstack([-coef / 2, coef / 2]), np.array([-1.0, 1.0]) * intercept / 2
    coef = coef / scaler.scale_[:, None]
    w[:, model.classes_] = coef
    b[model.classes_] = intercept - scaler.mean_ @ coef
    return AdaptedHead(w.astype(np.float32), b.astype(np.float32), c)


def choose_head(
    train: tuple[np.ndarray, np.ndarray], validation: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_labels: int, grid: Sequence[float] = HEAD_C,
) -> tuple[AdaptedHead, dict[float, float]]:  # fmt: skip
    """The head of ``grid``'s C with the best validation clip accuracy.

    ``validation``: (standardised windows, clip index per window, clip label) sets.
    Returns the head and {C: validation accuracy}.
    """
    from ser_features import utterance_probabilities

    scores: dict[float, float] = {}
    best: AdaptedHead | None = None
    for c in grid:
        head = fit_head(*train, n_labels, c)
        right = total = 0
        for x, clip, truth in validation:
            clips = utterance_probabilities(head.probabilities(x), clip)
            right += int((clips.argmax(axis=1) == truth).sum())
            total += len(truth)
        scores[c] = right / total
        if best is None or scores[c] > scores[best.c]:
            best = head
    return best, scores
