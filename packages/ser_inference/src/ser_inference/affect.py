"""From calibrated class probabilities to the answers people act on: a "not sure" flag, and
arousal and valence (the two emotion dimensions that carry across corpora best).

Pure numpy; the API, the batch job and the training report call the same functions, with the
mapping and threshold the model's metadata carries (``ser.calibration``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# High arousal (activated) emotions, after the circumplex model (Russell 1980). Disgust is put
# on the low side, as in the arousal mapping of the cross-corpus study of Schuller et al.
# (IEEE Trans. Affective Computing, 2010: EMO-DB disgust, boredom, neutral, sadness low);
# acted disgust is a slow, low-energy delivery in RAVDESS, TESS and EMO-DB alike.
HIGH_AROUSAL = frozenset({"angry", "fearful", "happy", "surprised"})
# Valence of each category in [-1, 1] (negative … positive). Surprise in these corpora is
# TESS's "pleasant surprise" and mostly positive in RAVDESS, hence mildly positive.
VALENCE = {
    "angry": -0.8, "disgust": -0.7, "fearful": -0.7, "happy": 0.8,
    "neutral": 0.0, "sad": -0.7, "surprised": 0.4,
}  # fmt: skip
LOG_FLOOR = 1e-9  # probability floor before the arousal head's log (keeps it finite)


@dataclass(frozen=True)
class Calibration:
    """What the model metadata says about turning probabilities into answers."""

    temperature: float = 1.0  # already applied inside the exported graph; recorded here
    uncertain_below: float = 0.0  # a top probability below this is "not sure"
    arousal: Mapping[str, float] = field(default_factory=dict)  # label → P(high arousal)
    valence: Mapping[str, float] = field(default_factory=dict)  # label → valence in [-1, 1]
    fitted_on: str = ""  # protocol: which speakers chose temperature and threshold
    # Learned arousal head: arousal = sigmoid(Σ w[label] · ln p(label) + bias). Empty: arousal
    # is derived from ``arousal`` above (Σ p(label) · arousal[label]).
    arousal_weights: Mapping[str, float] = field(default_factory=dict)
    arousal_bias: float = 0.0

    @classmethod
    def default(cls, labels: Sequence[str]) -> Calibration:
        """The product's mapping for ``labels`` (unknown labels: arousal 0.5, valence 0)."""
        return cls(
            arousal={label: float(label in HIGH_AROUSAL) if label in VALENCE else 0.5
                     for label in labels},
            valence={label: VALENCE.get(label, 0.0) for label in labels},
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "uncertain_below": self.uncertain_below,
            "arousal": dict(self.arousal),
            "valence": dict(self.valence),
            "fitted_on": self.fitted_on,
            "arousal_weights": dict(self.arousal_weights),
            "arousal_bias": self.arousal_bias,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], labels: Sequence[str]) -> Calibration:
        """Parse metadata; raises ValueError naming what is wrong."""
        known = {"temperature", "uncertain_below", "arousal", "valence", "fitted_on",
                 "arousal_weights", "arousal_bias"}  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"calibration has unknown keys {unknown}")
        default = cls.default(labels)
        calibration = cls(
            temperature=float(data.get("temperature", 1.0)),
            uncertain_below=float(data.get("uncertain_below", 0.0)),
            arousal={k: float(v) for k, v in data.get("arousal", default.arousal).items()},
            valence={k: float(v) for k, v in data.get("valence", default.valence).items()},
            fitted_on=str(data.get("fitted_on", "")),
            arousal_weights={k: float(v) for k, v in data.get("arousal_weights", {}).items()},
            arousal_bias=float(data.get("arousal_bias", 0.0)),
        )
        calibration.check(labels)
        return calibration

    def check(self, labels: Sequence[str]) -> None:
        if not self.temperature > 0:
            raise ValueError("calibration temperature must be positive")
        if not 0.0 <= self.uncertain_below <= 1.0:
            raise ValueError("calibration uncertain_below must be in [0, 1]")
        for name, mapping, low, high in (("arousal", self.arousal, 0.0, 1.0),
                                         ("valence", self.valence, -1.0, 1.0)):  # fmt: skip
            if set(mapping) != set(labels):
                raise ValueError(f"calibration {name} must give every label exactly once")
            if not all(low <= v <= high for v in mapping.values()):
                raise ValueError(f"calibration {name} values must lie in [{low}, {high}]")
        if self.arousal_weights and set(self.arousal_weights) != set(labels):
            raise ValueError("calibration arousal_weights must give every label exactly once")
        if not all(np.isfinite([*self.arousal_weights.values(), self.arousal_bias])):
            raise ValueError("calibration arousal_weights and arousal_bias must be finite")

    def vectors(self, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Arousal and valence per label, in ``labels`` order, shape (n_labels,) each."""
        return (np.array([self.arousal[label] for label in labels]),
                np.array([self.valence[label] for label in labels]))  # fmt: skip


def arousal_valence(
    probabilities: np.ndarray, labels: Sequence[str], calibration: Calibration
) -> tuple[np.ndarray, np.ndarray]:
    """Probability of high arousal and expected valence.

    Parameters
    ----------
    probabilities : np.ndarray, shape (n, n_labels) or (n_labels,), rows sum to 1

    Returns
    -------
    (arousal in [0, 1], valence in [-1, 1]), each of shape (n,) or scalar arrays; arousal from
    the learned head when the calibration has one, else derived from the mapping
    """
    arousal, valence = calibration.vectors(labels)
    p = np.asarray(probabilities, dtype=np.float64)
    if calibration.arousal_weights:
        weights = np.array([calibration.arousal_weights[label] for label in labels])
        score = np.log(np.maximum(p, LOG_FLOOR)) @ weights + calibration.arousal_bias
        high = 1.0 / (1.0 + np.exp(-np.clip(score, -500.0, 500.0)))
    else:
        high = np.clip(p @ arousal, 0.0, 1.0)
    return high, np.clip(p @ valence, -1.0, 1.0)


def uncertain(probabilities: np.ndarray, calibration: Calibration) -> np.ndarray:
    """True where the top probability is below the model's threshold, shape (n,) or scalar."""
    return np.max(np.asarray(probabilities), axis=-1) < calibration.uncertain_below
