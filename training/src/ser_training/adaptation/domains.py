"""Domain profiles (issue 30): the statistics of many unlabelled recordings of one place
(microphone, room, language, speaking style), standardising the normalised head's input the way
a speaker profile does for one voice.

A *domain* here is a corpus: its recordings share a place. The normalised head is trained on
windows standardised with profiles drawn two ways, both as users make them:

* per corpus (``DOMAIN_TRAINING_DRAWS``): a sample of the corpus's clips, as a deployment
  would send to ``POST /domains``;
* per speaker (``SPEAKER_TRAINING_DRAWS``): as ``POST /speakers`` enrols a voice.

so one head reads either statistic, and their combination (speaker + domain: the speaker's
windows with the domain's moments counted as ``prior_windows`` extra windows,
:meth:`ser_inference.SpeakerStats.with_prior`).

Corpora without some labels (nEMO: no disgust; TurEV-DB: no neutral; URDU: four) train with
those labels left out of their windows' softmax (:func:`ser_training.adaptation.head.
fit_masked_head`): absent, not negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ser_features import utterance_probabilities
from ser_features.model_metadata import AdaptationMetadata
from ser_inference.profile import DOMAIN, SPEAKER, SpeakerStats, usability
from ser_training.adaptation.embeddings import ClipEmbeddings
from ser_training.adaptation.head import AdaptedHead, fit_masked_head, standardised
from ser_training.adaptation.protocol import (
    draw_enrolment,
    hash_corpus,
    label_indices,
    stats_of,
    windows_of,
)
from ser_training.calibration.temperature import CalibrationSet

DOMAIN_TRAINING_DRAWS = ("all", "random_100", "neutral_60_100")  # per training corpus
SPEAKER_TRAINING_DRAWS = ("all", "random_30", "neutral_60_30")  # per training speaker
DOMAIN_DRAWS = (
    "random_30", "random_100", "random_300", "neutral_60_30", "neutral_60_100", "neutral_60_300",
    "all",
)  # fmt: skip
SPEAKER_DRAW = "random_30"  # the speaker profile of the protocol's speaker / both columns
BOTH_DOMAIN_DRAW = "neutral_60_100"  # the domain profile of the both column (done-when's)


@dataclass(frozen=True)
class TrainingSet:
    """Standardised windows with their labels and the labels each window's corpus has."""

    x: np.ndarray  # (n, n_features) float32
    y: np.ndarray  # (n,) label index
    present: np.ndarray  # (n, n_labels) bool


def corpus_labels(embeddings: ClipEmbeddings, labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Corpus → (n_labels,) bool: the labels it has any clip of."""
    return {
        corpus: np.isin(labels, np.unique(embeddings.label[embeddings.corpus == corpus]))
        for corpus in np.unique(embeddings.corpus).tolist()
    }


def _standardised_draws(
    embeddings: ClipEmbeddings, clips: np.ndarray, draws: Iterable[str], std_floor: float,
    rng: np.random.Generator,
) -> Iterable[tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Every window of ``clips`` standardised by each draw's profile: (rows, x) per draw."""
    rows, _ = windows_of(embeddings, clips)
    for name in draws:
        sample = draw_enrolment(name, clips, embeddings.label[clips], rng)
        if sample is not None:
            stats = stats_of(embeddings, sample)
            yield rows, standardised(embeddings.features[rows], stats, std_floor)


def training_set(
    embeddings: ClipEmbeddings, speakers: Sequence[str], labels: tuple[str, ...],
    std_floor: float, seed: int, domain_draws: Sequence[str] = DOMAIN_TRAINING_DRAWS,
    speaker_draws: Sequence[str] = SPEAKER_TRAINING_DRAWS,
) -> TrainingSet:  # fmt: skip
    """The windows of ``speakers``' clips, standardised with per-corpus profiles (drawn from
    those speakers' clips of the corpus) and with per-speaker profiles."""
    rng = np.random.default_rng(seed)
    has = corpus_labels(embeddings, labels)
    chosen = np.isin(embeddings.speaker, list(speakers))
    xs, ys, present = [], [], []

    def add(rows_x: Iterable[tuple[np.ndarray, np.ndarray]], clips: np.ndarray) -> None:
        _, clip_of_row = windows_of(embeddings, clips)
        y = label_indices(embeddings, clips, labels)[clip_of_row]
        for _, x in rows_x:
            xs.append(x)
            ys.append(y)
            present.append(np.stack([has[c] for c in embeddings.corpus[clips][clip_of_row]]))

    for corpus in sorted(set(embeddings.corpus[chosen].tolist())):
        clips = np.flatnonzero(chosen & (embeddings.corpus == corpus))
        add(_standardised_draws(embeddings, clips, domain_draws, std_floor, rng), clips)
    for speaker in sorted(set(speakers)):
        clips = np.flatnonzero(embeddings.speaker == speaker)
        if len(clips):
            add(_standardised_draws(embeddings, clips, speaker_draws, std_floor, rng), clips)
    if not xs:
        raise ValueError("no training windows: no clip of the given speakers")
    return TrainingSet(np.concatenate(xs), np.concatenate(ys), np.concatenate(present))


def fit_normalised_head(training: TrainingSet, c: float) -> AdaptedHead:
    return fit_masked_head(training.x, training.y, training.present, c)


@dataclass(frozen=True)
class ScoredAnswers:
    """Clip answers of one corpus's scored clips under one way of adapting."""

    truth: np.ndarray  # (n_clips,) label index
    chosen: np.ndarray  # (n_clips,) best label index as served
    probabilities: np.ndarray  # (n_clips, n_labels) as served (plain where not adapted)
    adapted: np.ndarray  # (n_clips,) bool
    windows: np.ndarray  # (n_windows, n_labels) the served windows' probabilities
    window_clip: np.ndarray  # (n_windows,) each window's clip (index into truth)

    def calibration_set(self) -> CalibrationSet:
        """The answers as a temperature fit reads them (window probabilities at T = 1 when
        the rule's temperature is 1)."""
        return CalibrationSet(self.windows, self.window_clip, self.truth)


def answer_clips(
    embeddings: ClipEmbeddings, clips: np.ndarray, stats: SpeakerStats | None,
    head: AdaptedHead, rule: AdaptationMetadata, labels: tuple[str, ...], kind: str = SPEAKER,
) -> tuple[np.ndarray, bool, np.ndarray]:  # fmt: skip
    """``clips`` answered as served: adapted to ``stats`` when the rule for a profile of
    ``kind`` (:func:`ser_inference.profile.usability`) accepts it, else by the plain head.

    Returns (n_clips, n_labels) clip probabilities, whether they were adapted, and the
    (n_windows, n_labels) window probabilities they average (windows in ``windows_of`` order).
    """
    rows, clip_of_row = windows_of(embeddings, clips)
    usable = stats is not None and usability(stats, rule, labels, kind) is None
    if not usable:
        windows = embeddings.probabilities[rows].astype(np.float64)
    else:
        x = standardised(embeddings.features[rows], stats, rule.std_floor)
        windows = head.probabilities(x, rule.temperature)
    return utterance_probabilities(windows, clip_of_row), usable, windows


def score_corpus(
    embeddings: ClipEmbeddings, corpus: str, speakers: Sequence[str], head: AdaptedHead,
    rule: AdaptationMetadata, labels: tuple[str, ...], seed: int,
) -> dict[str, ScoredAnswers]:  # fmt: skip
    """Every way of answering one corpus's scored speakers, for one draw seed, under
    ``rule``'s usable rules and domain prior (``domain_prior_windows``).

    Keys: ``plain``; ``domain:<draw>`` for each of :data:`DOMAIN_DRAWS` (a domain profile
    drawn from all scored clips together, every scored clip answered with it); ``speaker``
    (each speaker's own ``random_30`` profile); ``both`` (that speaker profile with the
    ``neutral_60_100`` domain profile as prior; a speaker profile the rule refuses falls back
    to the domain profile, then to plain).
    """
    rng = np.random.default_rng([seed, hash_corpus(corpus)])
    clips = np.flatnonzero(np.isin(embeddings.speaker, list(speakers)))
    truth = label_indices(embeddings, clips, labels)
    out: dict[str, ScoredAnswers] = {}

    def record(name: str, parts: list[tuple[np.ndarray, tuple]]) -> None:
        """``parts``: (positions among ``clips``, answer_clips' result) per group of clips."""
        order = np.concatenate([where for where, _ in parts])
        probabilities = np.concatenate([answer[0] for _, answer in parts])[np.argsort(order)]
        adapted = np.concatenate([np.full(len(w), a[1]) for w, a in parts])[np.argsort(order)]
        windows = np.concatenate([answer[2] for _, answer in parts])
        window_clip = np.concatenate(
            [where[windows_of(embeddings, clips[where])[1]] for where, _ in parts]
        )
        out[name] = ScoredAnswers(
            truth, probabilities.argmax(1), probabilities, adapted, windows, window_clip
        )

    everything = np.arange(len(clips))
    record("plain", [(everything, answer_clips(embeddings, clips, None, head, rule, labels))])
    domains = {}
    for name in DOMAIN_DRAWS:
        sample = draw_enrolment(name, clips, embeddings.label[clips], rng)
        if sample is None:
            continue
        domains[name] = stats_of(embeddings, sample)
        answer = answer_clips(embeddings, clips, domains[name], head, rule, labels, DOMAIN)
        record(f"domain:{name}", [(everything, answer)])
    domain = domains.get(BOTH_DOMAIN_DRAW) or domains.get("random_100")
    speaker_parts, both_parts = [], []
    for speaker in sorted(set(speakers)):
        mine = np.flatnonzero(embeddings.speaker[clips] == speaker)
        if not len(mine):
            continue
        sample = draw_enrolment(SPEAKER_DRAW, clips[mine], embeddings.label[clips[mine]], rng)
        own = stats_of(embeddings, sample)
        answer = answer_clips(embeddings, clips[mine], own, head, rule, labels)
        speaker_parts.append((mine, answer))
        if answer[1] and domain is not None:  # usable speaker: the domain as its prior
            combined = own.with_prior(domain, rule.domain_prior_windows)
            answer = answer_clips(embeddings, clips[mine], combined, head, rule, labels)
        elif not answer[1] and domain is not None:  # else the domain alone, if usable
            answer = answer_clips(embeddings, clips[mine], domain, head, rule, labels, DOMAIN)
        both_parts.append((mine, answer))
    record("speaker", speaker_parts)
    record("both", both_parts)
    return out


def accuracy(answers: ScoredAnswers) -> float:
    """% of clips answered right (7-class argmax, as served)."""
    return 100.0 * float((answers.chosen == answers.truth).mean())
