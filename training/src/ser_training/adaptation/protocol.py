"""The adaptation protocol (issue 24): per held-out speaker, an enrolment set of unlabelled
clips becomes a profile; every clip of the speaker (the enrolment clips too: no label is used)
is then answered adapted, and compared with the same model's single-clip (plain) answer.

Enrolment sets (drawn per speaker and seed, without replacement, capped at the speaker's clips):

* ``random_5``, ``random_10``, ``random_30`` (``random_N``): clips drawn at random;
* ``neutral_60_30`` (``neutral_60_N``): 30 (N) clips, 60 % of them neutral (a realistic mix);
* ``neutral_only_10``, ``neutral_only_30``: neutral clips only (the trap: calm speech only);
* ``all``: every clip of the speaker;
* ``self``: each clip adapted to its own windows (``adapt=self``).

Answers are reported twice: ``served`` applies the model's usable rule (an unusable profile
gets the plain answer, as the API does), ``forced`` adapts whatever the profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ser_features import utterance_probabilities
from ser_features.model_metadata import AdaptationMetadata
from ser_inference.profile import SpeakerStats, usability
from ser_training.adaptation.embeddings import ClipEmbeddings
from ser_training.adaptation.head import AdaptedHead, standardised

NEUTRAL = "neutral"
ENROLMENTS = (
    "random_5", "random_10", "random_30", "neutral_60_30", "neutral_only_10", "neutral_only_30",
    "all",
)  # fmt: skip


def draw_enrolment(
    name: str, clips: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray | None:
    """Indices (into ``clips``) of one enrolment set; None when the speaker has no clip the set
    needs (no neutral clip for a neutral set). Labels choose neutral clips only: the profile
    itself never sees them."""
    if name == "all":
        return clips
    if name.startswith("random_"):
        n = int(name.split("_")[1])
        return rng.choice(clips, size=min(n, len(clips)), replace=False)
    neutral, other = clips[labels == NEUTRAL], clips[labels != NEUTRAL]
    if len(neutral) == 0:
        return None
    if name.startswith("neutral_only_"):
        n = int(name.rsplit("_", 1)[1])
        return rng.choice(neutral, size=min(n, len(neutral)), replace=False)
    if name.startswith("neutral_60_"):  # N clips, 60 % neutral (30: 18 neutral + 12 other)
        n = int(name.rsplit("_", 1)[1])
        n_neutral = min(round(0.6 * n), len(neutral))
        n_other = min(len(other), round(n_neutral * 2 / 3))
        return np.concatenate([
            rng.choice(neutral, n_neutral, replace=False), rng.choice(other, n_other, replace=False)
        ])  # fmt: skip
    raise ValueError(f"unknown enrolment set {name!r}")


def enrolment_draws(
    embeddings: ClipEmbeddings, speakers: Sequence[str], names: Sequence[str],
    rng: np.random.Generator,
) -> Iterator[tuple[np.ndarray, str, np.ndarray]]:  # fmt: skip
    """Speaker by speaker, each of ``names``' enrolment draws (one generator, in that order):
    (the speaker's clips, the draw's name, its clips); a draw the speaker cannot give (no
    neutral clip) is skipped."""
    for speaker in speakers:
        clips = np.flatnonzero(embeddings.speaker == speaker)
        for name in names:
            enrolment = draw_enrolment(name, clips, embeddings.label[clips], rng)
            if enrolment is not None:
                yield clips, name, enrolment


def windows_of(embeddings: ClipEmbeddings, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the clips' windows, and each row's position among ``clips``."""
    rows = [np.arange(embeddings.offsets[c], embeddings.offsets[c + 1]) for c in clips]
    return np.concatenate(rows), np.concatenate([np.full(len(r), i) for i, r in enumerate(rows)])


def label_indices(
    embeddings: ClipEmbeddings, clips: np.ndarray, labels: tuple[str, ...]
) -> np.ndarray:
    """(n_clips,) the clips' labels as indices into ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[label] for label in embeddings.label[clips]])


def stats_of(embeddings: ClipEmbeddings, clips: np.ndarray) -> SpeakerStats:
    """The profile of these clips' windows, as the API builds it clip by clip."""
    stats = SpeakerStats.empty(embeddings.features.shape[1], embeddings.probabilities.shape[1])
    for clip in clips:
        rows = embeddings.windows(int(clip))
        stats = stats.merged(
            SpeakerStats.of_windows(
                embeddings.features[rows], embeddings.probabilities[rows], embeddings.seconds[clip]
            )
        )
    return stats


@dataclass(frozen=True)
class Answers:
    """Clip answers of one speaker under one enrolment draw."""

    truth: np.ndarray  # (n_clips,) label index
    plain: np.ndarray  # (n_clips,) best label index of the plain head
    forced: np.ndarray  # adapted whatever the rule says
    served: np.ndarray  # adapted only when the profile is usable
    usable: bool
    reason: str | None
    profile: SpeakerStats | None = None  # the enrolment's statistics; None for adapt=self


def speaker_answers(
    embeddings: ClipEmbeddings, clips: np.ndarray, enrolment: np.ndarray | None,
    head: AdaptedHead, rule: AdaptationMetadata, labels: tuple[str, ...],
) -> Answers:  # fmt: skip
    """Answers for every clip in ``clips`` adapted to the profile of ``enrolment`` (None: each
    clip to itself, ``adapt=self``)."""
    truth = label_indices(embeddings, clips, labels)
    all_rows, window_clip = windows_of(embeddings, clips)
    plain = utterance_probabilities(embeddings.probabilities[all_rows], window_clip).argmax(1)
    if enrolment is None:  # adapt=self: one profile per clip
        forced, served, reasons = [], [], []
        for i, c in enumerate(clips):
            stats = stats_of(embeddings, np.array([c]))
            x = standardised(embeddings.features[embeddings.windows(int(c))], stats, rule.std_floor)
            answer = int(utterance_probabilities(head.probabilities(x, rule.temperature)).argmax())
            reason = usability(stats, rule, labels)
            forced.append(answer)
            served.append(answer if reason is None else plain[i])
            reasons.append(reason)
        usable = float(np.mean([r is None for r in reasons]))
        return Answers(truth, plain, np.array(forced), np.array(served), usable >= 0.5, None)
    stats = stats_of(embeddings, enrolment)
    reason = usability(stats, rule, labels)
    x = standardised(embeddings.features[all_rows], stats, rule.std_floor)
    forced = utterance_probabilities(head.probabilities(x, rule.temperature), window_clip)
    forced = forced.argmax(1)
    return Answers(
        truth, plain, forced, forced if reason is None else plain, reason is None, reason, stats
    )


def evaluate(
    embeddings: ClipEmbeddings, speakers: dict[str, list[str]], head: AdaptedHead,
    rule: AdaptationMetadata, labels: tuple[str, ...], seeds: tuple[int, ...] = (0, 1, 2),
    progress: Callable[[str], None] = lambda _: None,
) -> dict:  # fmt: skip
    """The protocol's table: corpus → enrolment → accuracies (% of clips, mean and spread
    over seeds), plus per-speaker rows and the share of usable profiles.

    ``speakers``: corpus → the held-out speaker ids (``embeddings.speaker`` values) to score.
    """
    table: dict = {}
    for corpus, ids in speakers.items():
        progress(corpus)
        rows: dict = {}
        for name in (*ENROLMENTS, "self"):
            per_seed = []
            for seed in seeds if name not in ("all", "self") else seeds[:1]:
                rng = np.random.default_rng([seed, hash_corpus(corpus)])
                right = {"plain": 0, "forced": 0, "served": 0}
                total = usable = drawn = 0
                per_speaker = {}
                for speaker in ids:
                    clips = np.flatnonzero(embeddings.speaker == speaker)
                    enrolment = None
                    if name != "self":
                        enrolment = draw_enrolment(name, clips, embeddings.label[clips], rng)
                        if enrolment is None:
                            continue
                    answers = speaker_answers(embeddings, clips, enrolment, head, rule, labels)
                    drawn += 1
                    usable += answers.usable
                    total += len(clips)
                    for kind in right:
                        right[kind] += int((getattr(answers, kind) == answers.truth).sum())
                    per_speaker[speaker] = {
                        kind: 100.0 * float((getattr(answers, kind) == answers.truth).mean())
                        for kind in right
                    } | {"usable": answers.usable, "reason": answers.reason}
                if drawn:
                    per_seed.append(
                        {kind: 100.0 * v / total for kind, v in right.items()}
                        | {"usable_share": usable / drawn, "speakers": drawn, "clips": total,
                           "per_speaker": per_speaker}
                    )  # fmt: skip
            if per_seed:
                rows[name] = summarise(per_seed)
        table[corpus] = rows
    return table


def hash_corpus(corpus: str) -> int:
    """A stable integer per corpus name (Python's hash() is salted per process)."""
    return int.from_bytes(corpus.encode()[:8].ljust(8, b"\0"), "little")


def summarise(per_seed: list[dict]) -> dict:
    """Mean and standard deviation over seeds of each accuracy; the seeds kept as they are."""
    out: dict = {"seeds": len(per_seed), "speakers": per_seed[0]["speakers"],
                 "clips": per_seed[0]["clips"]}  # fmt: skip
    for kind in ("plain", "forced", "served", "usable_share"):
        values = np.array([s[kind] for s in per_seed])
        out[kind] = round(float(values.mean()), 2)
        out[f"{kind}_sd"] = round(float(values.std()), 2)
    out["gain"] = round(out["served"] - out["plain"], 2)
    out["per_speaker"] = per_seed[0]["per_speaker"]
    return out
