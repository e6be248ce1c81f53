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

    def with_prior(self, prior: SpeakerStats, prior_windows: int) -> SpeakerStats:
        """These statistics with ``prior``'s first and second moments counted as
        ``prior_windows`` extra windows (a speaker's profile shrunk towards their place's):
        few own windows lean on the place, many on the voice. Answer counts, clips and
        seconds stay this profile's, so the usable rule still judges the speaker's own
        enrolment.

        Raises
        ------
        ValueError : ``prior`` has no windows, or another model's shape.
        """
        if prior.n_windows < 1:
            raise ValueError("a prior without windows has no statistics")
        if prior.total.shape != self.total.shape:
            raise ValueError("profiles of different models cannot be combined")
        scale = prior_windows / prior.n_windows
        return SpeakerStats(
            self.n_windows + int(prior_windows),
            self.total + scale * prior.total,
            self.total_sq + scale * prior.total_sq,
            self.label_counts.copy(),
            self.clips,
            self.seconds,
        )

    @property
    def answer_entropy(self) -> float:
        """Entropy (nats) of the plain head's answers over the profile's own windows: 0 when
        one emotion takes them all, ln(n_labels) when all are equally frequent (0 without
        windows)."""
        answered = self.label_counts[self.label_counts > 0].astype(np.float64)
        if not answered.size:
            return 0.0
        share = answered / answered.sum()
        return float(-(share * np.log(share)).sum())

    @property
    def dominant_share(self) -> float:
        """Share of windows taken by the plain head's most frequent answer (0 without any);
        of the profile's own windows (a prior's count none, :meth:`with_prior`)."""
        answered = int(self.label_counts.sum())
        return float(self.label_counts.max() / answered) if answered else 0.0


SPEAKER = "speaker"  # kinds of profile: one voice
DOMAIN = "domain"  # many recordings of one place (microphone, room, language)


def usability(
    stats: SpeakerStats, rule: AdaptationMetadata, labels: tuple[str, ...], kind: str = SPEAKER
) -> str | None:
    """None when the profile may be used, else the reason it may not, for a person to read.

    The rule is the model's (its metadata's ``min_windows`` — ``domain_min_windows`` for a
    domain profile — ``max_dominant_share`` and, for a speaker, ``min_answer_entropy``,
    chosen by measurement; docs/profiles.md, "Speaker
    adaptation" and "Domain profiles").
    """
    if kind not in (SPEAKER, DOMAIN):
        raise ValueError(f"unknown profile kind {kind!r}")
    min_windows = rule.min_windows if kind == SPEAKER else rule.domain_min_windows
    if kind == DOMAIN and not rule.serves_domains:
        return "this model's adapted head was not trained for domain profiles"
    if stats.n_windows < min_windows:
        return (
            f"too little speech: {stats.n_windows} voiced window(s), at least "
            f"{min_windows} needed (add clips)"
        )
    if stats.dominant_share > rule.max_dominant_share:
        label = labels[int(np.argmax(stats.label_counts))]
        return (
            f"too uniform: {stats.dominant_share:.0%} of the windows sound {label} (at most "
            f"{rule.max_dominant_share:.0%} allowed); a profile of one manner of speaking "
            "would skew answers, add clips with other emotions"
        )
    if kind == SPEAKER and stats.answer_entropy < rule.min_answer_entropy:
        return (
            f"too uniform: the windows sound like too few emotions (answer entropy "
            f"{stats.answer_entropy:.2f} nats, at least {rule.min_answer_entropy:.2f} needed); "
            "a profile of one mood would skew answers, add clips where you sound different"
        )
    return None


@dataclass(frozen=True)
class Standardisation:
    """Which statistics an adapted answer uses, from a speaker and/or a domain profile.

    ``stats`` is None when neither may be used (the answer stays plain); ``used`` names what
    was used ("speaker", "domain", "speaker+domain"), ``reason`` why a profile that was asked
    for was left out (None when everything asked for was used).
    """

    stats: SpeakerStats | None
    used: str | None
    reason: str | None


def standardisation(
    speaker: SpeakerStats | None, domain: SpeakerStats | None, rule: AdaptationMetadata,
    labels: tuple[str, ...],
) -> Standardisation:  # fmt: skip
    """The statistics to adapt with, by the model's rule:

    * a usable speaker profile with a usable domain profile: the speaker's windows with the
      domain's moments as ``domain_prior_windows`` extra windows ("speaker+domain");
    * only one of them usable: that one alone, and the other's reason;
    * neither: None (plain), with the reasons.
    """
    speaker_reason = None if speaker is None else usability(speaker, rule, labels, SPEAKER)
    domain_reason = None if domain is None else usability(domain, rule, labels, DOMAIN)
    use_speaker = speaker is not None and speaker_reason is None
    use_domain = domain is not None and domain_reason is None
    reasons = [
        f"{kind} profile not used: {reason}"
        for kind, reason in ((SPEAKER, speaker_reason), (DOMAIN, domain_reason))
        if reason is not None
    ]
    # One profile asked for: its reason as it is; both: each named.
    reason = "; ".join(reasons) if speaker is not None and domain is not None else None
    reason = reason or speaker_reason or domain_reason
    if use_speaker and use_domain:
        combined = speaker.with_prior(domain, rule.domain_prior_windows)
        return Standardisation(combined, "speaker+domain", reason)
    if use_speaker:
        return Standardisation(speaker, SPEAKER, reason)
    if use_domain:
        return Standardisation(domain, DOMAIN, reason)
    return Standardisation(None, None, reason)
