"""The floor a head on a pretrained encoder must beat: logistic regression on time-pooled layers.

Each window's encoder layers (n_layers, n_steps, d_model) become their mean and standard
deviation over time, concatenated (n_layers × 2 × d_model numbers), standardised, and a
multinomial logistic regression reads them. Its regularisation C is chosen by cross-validation
grouped by training speaker (no validation or test speaker takes part), as issue 18's probes
did. A comparison row only: it is never exported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Inverse regularisation strengths tried: issue 18's probes found the best C at the bottom of
# {0.01 … 10}, so the grid reaches lower.
PROBE_C = (1e-4, 1e-3, 1e-2, 1e-1)
PROBE_FOLDS = 3  # speaker-grouped folds for choosing C
PROBE_MAX_ITER = 300


def pooled(features: np.ndarray) -> np.ndarray:
    """(n, n_layers, n_steps, d_model) → (n, n_layers × 2 × d_model) float32: per layer the
    mean and standard deviation over steps."""
    x = features.astype(np.float32)
    stats = np.concatenate([x.mean(axis=2), x.std(axis=2)], axis=-1)  # (n, layers, 2d)
    return stats.reshape(len(x), -1)


class LinearProbe:
    """A fitted probe with the Keras-like ``predict`` the job's scoring calls."""

    def __init__(self, pipeline, n_labels: int, chosen_c: float) -> None:
        self.pipeline = pipeline
        self.n_labels = n_labels
        self.chosen_c = chosen_c

    def predict(self, features: np.ndarray, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Window probabilities, shape (n, n_labels); labels never seen in training get 0."""
        out = np.zeros((len(features), self.n_labels), dtype=np.float32)
        for start in range(0, len(features), batch_size):
            chunk = pooled(features[start : start + batch_size])
            out[start : start + len(chunk), self.pipeline.classes_] = self.pipeline.predict_proba(
                chunk
            )
        return out


def fit_probe(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, weights: np.ndarray,
    n_labels: int, grid: Sequence[float] = PROBE_C,
) -> LinearProbe:  # fmt: skip
    """Choose C by speaker-grouped cross-validation (weighted accuracy), refit on everything.

    Parameters
    ----------
    features : (n, n_layers, n_steps, d_model) encoder outputs of the training windows
    labels : (n,) label index; groups : (n,) speaker id; weights : (n,) example weights
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = pooled(features)

    def model(c: float):
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=c, max_iter=PROBE_MAX_ITER, tol=1e-3)
        )

    folds = list(GroupKFold(n_splits=PROBE_FOLDS).split(x, labels, groups))
    scores = []
    for c in grid:
        correct = 0.0
        for train, held in folds:
            fitted = model(c).fit(
                x[train], labels[train], logisticregression__sample_weight=weights[train]
            )
            correct += float(np.sum(weights[held] * (fitted.predict(x[held]) == labels[held])))
        scores.append(correct)
    best = float(grid[int(np.argmax(scores))])
    final = model(best).fit(x, labels, logisticregression__sample_weight=weights)
    return LinearProbe(final, n_labels, best)
