"""Calibrated confidence: temperature scaling, the "not sure" threshold, and their measures.

Everything is fitted on the validation speakers and only measured on test speakers and held-out
corpora. Probabilities are utterance-level (the mean of window probabilities, as served), and
the temperature acts on each window inside the exported graph (export.calibrate_graph), so
``utterance_probabilities(tempered(windows))`` here is exactly what the API returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ser_features import utterance_probabilities

ECE_BINS = 15  # equal-width confidence bins for the expected calibration error
TEMPERATURE_RANGE = (0.05, 20.0)  # searched on a log scale
THRESHOLD_TARGET_ACCURACY = 0.80  # "not sure" rule: see choose_threshold
PROBABILITY_FLOOR = 1e-12  # keeps log() finite


def tempered(window_probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) per row, shape unchanged: what the calibrated graph computes."""
    logits = np.log(np.maximum(np.asarray(window_probabilities, np.float64), PROBABILITY_FLOOR))
    scaled = logits / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def negative_log_likelihood(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Mean −log p(true label); probabilities shape (n, n_labels), truth shape (n,)."""
    picked = probabilities[np.arange(len(truth)), truth]
    return float(-np.mean(np.log(np.maximum(picked, PROBABILITY_FLOOR))))


@dataclass(frozen=True)
class CalibrationSet:
    """One set of predictions a temperature is fitted on.

    Attributes
    ----------
    window_probabilities : np.ndarray, shape (n_windows, n_labels), uncalibrated
    utterance : np.ndarray, shape (n_windows,), utterance index of each window
    truth : np.ndarray, shape (n_utterances,), label index
    """

    window_probabilities: np.ndarray
    utterance: np.ndarray
    truth: np.ndarray

    @classmethod
    def of_utterances(cls, probabilities: np.ndarray, truth: np.ndarray) -> CalibrationSet:
        """A set stored as utterance probabilities only (one "window" per utterance)."""
        return cls(probabilities, np.arange(len(truth)), truth)

    def calibrated(self, temperature: float) -> np.ndarray:
        """Utterance probabilities at ``temperature``: shape (n_utterances, n_labels)."""
        return utterance_probabilities(
            tempered(self.window_probabilities, temperature), self.utterance
        )

    def nll(self, temperature: float) -> float:
        return negative_log_likelihood(self.calibrated(temperature), self.truth)


def fit_shared_temperature(sets: Sequence[CalibrationSet]) -> float:
    """The temperature that minimises the mean of the sets' utterance-level NLLs, each set
    weighing the same whatever its size (golden-section search on log T)."""
    if not sets:
        raise ValueError("no calibration set to fit a temperature on")

    def loss(log_t: float) -> float:
        return float(np.mean([s.nll(np.exp(log_t)) for s in sets]))

    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loss(a), loss(b)
    for _ in range(60):  # the bracket shrinks to 1e-12 of its width
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = loss(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = loss(b)
    return float(np.exp((low + high) / 2.0))


def fit_temperature(
    window_probabilities: np.ndarray, utterance: np.ndarray, truth: np.ndarray
) -> float:
    """The temperature that minimises the utterance-level NLL of one set (see CalibrationSet
    for the shapes)."""
    return fit_shared_temperature([CalibrationSet(window_probabilities, utterance, truth)])


def expected_calibration_error(
    probabilities: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Σ_bins (n_bin / n) · |accuracy − mean confidence| over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def brier_score(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Mean squared distance to the one-hot truth, summed over labels (0 best, 2 worst)."""
    one_hot = np.eye(probabilities.shape[1])[truth]
    return float(np.mean(np.sum((probabilities - one_hot) ** 2, axis=1)))


def accuracy_coverage(
    probabilities: np.ndarray, truth: np.ndarray, thresholds: Sequence[float]
) -> list[dict]:
    """For each threshold: the share of answers kept (confidence ≥ it) and their accuracy."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    rows = []
    for t in thresholds:
        kept = confidence >= t
        rows.append({
            "threshold": round(float(t), 4),
            "coverage": float(kept.mean()),
            "accuracy": float(correct[kept].mean()) if kept.any() else None,
        })  # fmt: skip
    return rows


def choose_threshold(
    probabilities: np.ndarray, truth: np.ndarray, target: float = THRESHOLD_TARGET_ACCURACY
) -> float:
    """Rule fixed before any test figure: the lowest confidence threshold whose kept answers
    (confidence ≥ threshold) are right at least ``target`` of the time on these (validation)
    utterances; if none reaches it, the threshold that keeps the most accurate non-empty tail
    of at least 5 % of the answers."""
    confidence = np.sort(probabilities.max(axis=1))
    for t in confidence:
        kept = probabilities.max(axis=1) >= t
        if (probabilities.argmax(axis=1)[kept] == truth[kept]).mean() >= target:
            return float(t)
    return float(confidence[int(0.95 * (len(confidence) - 1))])


def shared_threshold(sets: Sequence[CalibrationSet], temperature: float) -> float:
    """The "not sure" threshold that meets :func:`choose_threshold`'s target on *every* set
    (the highest of their thresholds) at ``temperature``: answers kept on new speakers of
    known corpora and on corpora the model never saw are each right that often. One set alone
    (the validation speakers) let a model that is right ≥ 80 % of the time on known corpora
    flag nothing at all, however often it errs on new ones."""
    if not sets:
        raise ValueError("no calibration set to choose a threshold on")
    return max(choose_threshold(s.calibrated(temperature), s.truth) for s in sets)


def calibration_figures(probabilities: np.ndarray, truth: np.ndarray) -> dict:
    """ECE, Brier, NLL and accuracy of one set of utterance probabilities."""
    return {
        "n": len(truth),
        "ece": expected_calibration_error(probabilities, truth),
        "brier": brier_score(probabilities, truth),
        "nll": negative_log_likelihood(probabilities, truth),
        "accuracy": float((probabilities.argmax(axis=1) == truth).mean()),
        "mean_confidence": float(probabilities.max(axis=1).mean()),
    }


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], path) -> None:
    """Reliability diagram: accuracy per confidence bin against the diagonal, one line each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    figure, axis = plt.subplots(figsize=(5.2, 5.0), dpi=110)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, (probabilities, truth) in curves.items():
        confidence = probabilities.max(axis=1)
        correct = probabilities.argmax(axis=1) == truth
        index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, ECE_BINS - 1)
        xs, ys = [], []
        for b in range(ECE_BINS):
            if (index == b).sum() >= 5:  # a bin of fewer answers says nothing
                xs.append(centres[b])
                ys.append(correct[index == b].mean())
        axis.plot(
            xs,
            ys,
            marker="o",
            label=f"{name} (ECE {expected_calibration_error(probabilities, truth):.3f})",
        )
    axis.set(xlabel="confidence (top probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
             title="Reliability, held-out speakers")  # fmt: skip
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
