"""A speaker's voice profile: statistics of their voiced windows, and when it may be used.

A profile never holds audio: only running sums over the speaker's voiced windows of the
model's ``speaker_features`` (per dimension: count, sum, sum of squares), the plain head's
answer counts over the same windows, and how many clips and seconds went in. Sums merge by
addition, so adding clips later gives exactly the statistics of enrolling everything at once,
and the stored bytes reveal nothing a clip-by-clip record would.

The adapted head reads ``(features − mean) / max(std, std_floor)``; the floor keeps a
dimension that barely moved in the enrolment (or one window) from being blown up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ser_features.model_metadata import AdaptationMetadata

_SUM_DTYPE = np.float64  # sums of thousands of windows stay exact enough for a variance


@dataclass(frozen=True)
class SpeakerStats:
    """Sufficient statistics of a speaker's enrolment windows.

    ``total`` and ``total_sq`` have shape (n_features,) float64; ``label_counts`` (n_labels,)
    int64 counts the plain head's best label per window.
    """

    n_windows: int
    total: np.ndarray
    total_sq: np.ndarray
    label_counts: np.ndarray
    clips: int = 0
    seconds: float = 0.0  # s of decoded audio enrolled (silence included)

    @classmethod
    def empty(cls, n_features: int, n_labels: int) -> SpeakerStats:
        return cls(
            0, np.zeros(n_features, _SUM_DTYPE), np.zeros(n_features, _SUM_DTYPE),
            np.zeros(n_labels, np.int64),
        )  # fmt: skip

    @classmethod
    def of_windows(
        cls, features: np.ndarray, probabilities: np.ndarray, seconds: float, clips: int = 1
    ) -> SpeakerStats:
        """Statistics of one clip's (or recording's) voiced windows.

        Parameters
        ----------
        features : (n_windows, n_features) the model's ``speaker_features``
        probabilities : (n_windows, n_labels) the plain head's probabilities, same windows
        seconds : s, decoded length of the clip
        """
        x = np.asarray(features, dtype=_SUM_DTYPE)
        if x.ndim != 2 or len(x) != len(probabilities):
            raise ValueError(
                f"features {x.shape} and probabilities {np.shape(probabilities)} must be "
                "(n_windows, ·) with the same n_windows"
            )
        best = np.argmax(probabilities, axis=1)
        counts = np.bincount(best, minlength=np.shape(probabilities)[1]).astype(np.int64)
        return cls(len(x), x.sum(axis=0), np.square(x).sum(axis=0), counts, clips, seconds)

    def merged(self, other: SpeakerStats) -> SpeakerStats:
        """The statistics of both sets of windows together."""
        if (
            self.total.shape != other.total.shape
            or self.label_counts.shape != other.label_counts.shape
        ):
            raise ValueError("profiles of different models cannot be merged")
        return SpeakerStats(
            self.n_windows + other.n_windows,
            self.total + other.total,
            self.total_sq + other.total_sq,
            self.label_counts + other.label_counts,
            self.clips + other.clips,
            self.seconds + other.seconds,
        )

    def mean_std(self, std_floor: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and population standard deviation (ddof 0) per feature, the standard deviation
        raised to ``std_floor``; both (n_features,) float32.

        Raises
        ------
        ValueError : no windows.
        """
        if self.n_windows < 1:
            raise ValueError("a profile without windows has no statistics")
        mean = self.total / self.n_windows
        # E[x²] − E[x]² can dip a hair below 0 by rounding when every window is the same.
        variance = np.maximum(self.total_sq / self.n_windows - np.square(mean), 0.0)
        std = np.maximum(np.sqrt(variance), std_floor)
        return mean.astype(np.float32), std.astype(np.float32)

    @property
    def dominant_share(self) -> float:
        """Share of windows taken by the plain head's most frequent answer (0 without any)."""
        return float(self.label_counts.max() / self.n_windows) if self.n_windows else 0.0


def usability(stats: SpeakerStats, rule: AdaptationMetadata, labels: tuple[str, ...]) -> str | None:
    """None when the profile may be used, else the reason it may not, for a person to read.

    The rule is the model's (its metadata's ``min_windows`` and ``max_dominant_share``,
    chosen by measurement on training speakers; README, "Speaker adaptation").
    """
    if stats.n_windows < rule.min_windows:
        return (
            f"too little speech: {stats.n_windows} voiced window(s), at least "
            f"{rule.min_windows} needed (add clips)"
        )
    if stats.dominant_share > rule.max_dominant_share:
        label = labels[int(np.argmax(stats.label_counts))]
        return (
            f"too uniform: {stats.dominant_share:.0%} of the windows sound {label} (at most "
            f"{rule.max_dominant_share:.0%} allowed); a profile of one manner of speaking "
            "would skew answers, add clips with other emotions"
        )
    return None
