"""The adapted head: multinomial logistic regression on per-speaker-standardised speaker
features, folded into one (weights, bias) pair the graph applies after the standardisation.

Training speakers are standardised with profiles like those users enrol (every clip of the
speaker, 10 and 30 random clips, 30 clips 60 % neutral): the head learns the input it will get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
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


def fit_masked_head(
    x: np.ndarray, y: np.ndarray, present: np.ndarray, c: float, max_iter: int = 300
) -> AdaptedHead:
    """Multinomial logistic regression where each window chooses only among the labels its
    corpus has: a corpus without disgust (nEMO) or neutral (TurEV-DB) is no evidence *against*
    those labels, so they are left out of its windows' softmax (absent, not negative).

    Parameters
    ----------
    x : (n, n_features) standardised windows
    y : (n,) label index per window
    present : (n, n_labels) bool, the labels the window's corpus has (its own label among them)
    c : inverse L2 strength, as scikit-learn's (classes weighted "balanced" like fit_head)

    The objective is scikit-learn's: C · Σ weightᵢ · cross-entropyᵢ + ½‖W‖², on features
    scaled to unit variance first and the scaling folded into the returned weights.
    """
    n, d = x.shape
    n_labels = present.shape[1]
    if not present[np.arange(n), y].all():
        raise ValueError("every window's label must be among its corpus's labels")
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x).astype(np.float32)
    counts = np.bincount(y, minlength=n_labels)
    seen = counts > 0
    weight = (n / (seen.sum() * np.maximum(counts, 1)))[y].astype(np.float32)  # "balanced"
    # Labels no window has keep a very negative bias, as fit_head does.
    allowed = present & seen[None, :]
    penalty = np.where(allowed, 0.0, -np.inf).astype(np.float32)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: d * n_labels].reshape(d, n_labels).astype(np.float32)
        b = theta[d * n_labels :].astype(np.float32)
        logits = z @ w + b + penalty
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        nll = -np.log(np.maximum(p[np.arange(n), y], 1e-30))
        value = c * float(weight @ nll) + 0.5 * float(np.square(theta[: d * n_labels]).sum())
        p[np.arange(n), y] -= 1.0
        g = (c * weight)[:, None] * p
        grad_w = z.T @ g + w
        return value, np.concatenate([grad_w.ravel(), g.sum(axis=0)]).astype(np.float64)

    theta0 = np.zeros(d * n_labels + n_labels)
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    coef = result.x[: d * n_labels].reshape(d, n_labels)
    intercept = np.where(seen, result.x[d * n_labels :], -30.0)
    coef = np.where(seen[None, :], coef, 0.0) / scaler.scale_[:, None]
    bias = intercept - scaler.mean_ @ coef
    return AdaptedHead(coef.astype(np.float32), bias.astype(np.float32), c)


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
