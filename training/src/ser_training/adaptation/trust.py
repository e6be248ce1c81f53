"""``ser-train trust`` (issue 34): how far each head's answers can be trusted, per corpus, and
which speaker enrolments are too uniform to adapt to.

Reads top to bottom:

1. **Calibration per corpus, every adapted head.** Per held-out corpus, a normalised head
   trained without that corpus (the adaptation protocol's, first seed) answers every clip with
   a domain profile (100 random clips of the corpus) and with each speaker's own 30 clips.
   Its temperature and "not sure" threshold are fitted as the shipped ones are, but on the
   *other* corpora only, so no corpus grades its own calibration: ECE, the share of answers
   kept as sure and how often those are right. The shipped temperature's figures stand beside
   them (fitted on all held-out corpora together, this one included). The plain head's
   figures are its own run's (``summary.json``, the same protocol on its held-out corpora).
2. **One-mood enrolments.** 15-clip enrolments simulated from held-out speakers' clips: one
   emotion only, 15 random clips, and 9 neutral + 6 others; each judged by the usable rule
   with and without the answer-entropy limit (:attr:`AdaptationMetadata.min_answer_entropy`).
   Groups: the test speakers of the plain head's corpora, and each corpus it never trained on.

The entropy limit (:data:`ser_training.adaptation.job.MIN_ANSWER_ENTROPY`, which ``adapt``
writes too) is a choice between flagging one-mood enrolments and refusing mixed ones; this job
measures its effect beside the rule without it and writes it into the served model with the
table it rests on.

Every figure needs plain-head answers of speakers that head never heard, so the embeddings
are the *protocol* model's (``ser-train train``'s, before ``ser-train refit``); the limit is
then written into the served model, refit or not.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ser_features.model_metadata import AdaptationMetadata, ModelMetadata
from ser_inference.profile import SPEAKER, SpeakerStats, usability
from ser_training.adaptation.domains import score_corpus
from ser_training.adaptation.embeddings import ClipEmbeddings
from ser_training.adaptation.head import AdaptedHead
from ser_training.adaptation.report import pct
from ser_training.calibration.temperature import (
    CalibrationSet,
    choose_threshold,
    expected_calibration_error,
    fit_shared_temperature,
)
from ser_training.model.export import write_metadata

ENROLMENT_CLIPS = 15  # the size of the one-mood enrolments issue 34 was reported with
NEUTRAL_CLIPS = 9  # of 15: the "60 % neutral" mix the web app recommends
DRAWS = 20  # random draws per (speaker, emotion) and per speaker
MIN_SHORT_CLIPS = 8  # a speaker with 8–15 clips of an emotion enrols all of them once
HEADS = ("domain:random_100", "speaker")  # the adapted answers a person can get
ENROLMENT_KINDS = ("one emotion", "random", "60 % neutral")


@dataclass(frozen=True)
class Enrolment:
    group: str  # "test speakers" or a corpus the plain head never trained on
    speaker: str
    kind: str  # one of ENROLMENT_KINDS
    emotion: str  # for "one emotion"; "" otherwise
    stats: SpeakerStats


def calibration_figures(calibration: CalibrationSet, temperature: float, threshold: float) -> dict:
    """ECE, accuracy, the share kept as sure (confidence ≥ ``threshold``) and their accuracy."""
    probabilities = calibration.calibrated(temperature)
    right = probabilities.argmax(1) == calibration.truth
    sure = probabilities.max(1) >= threshold
    return {
        "clips": len(right),
        "accuracy": float(right.mean()),
        "ece": expected_calibration_error(probabilities, calibration.truth),
        "sure_share": float(sure.mean()),
        "sure_accuracy": float(right[sure].mean()) if sure.any() else None,
    }


def _threshold(sets: Sequence[CalibrationSet], temperature: float) -> float:
    """The shipped rule: pooled answers, lowest threshold whose sure answers are ≥ 80 % right."""
    return choose_threshold(
        np.concatenate([s.calibrated(temperature) for s in sets]),
        np.concatenate([s.truth for s in sets]),
    )


def calibration_table(
    sets: dict[tuple[str, str], CalibrationSet], served: AdaptationMetadata
) -> dict:
    """Per held-out corpus and adapted head: figures at a temperature and threshold fitted on
    the other corpora's answers ("other corpora"), and at the served ones ("served")."""
    table: dict = {}
    corpora = sorted({corpus for corpus, _ in sets})
    for corpus in corpora:
        others = [s for (c, _), s in sets.items() if c != corpus]
        temperature = fit_shared_temperature(others)
        threshold = _threshold(others, temperature)
        for head in HEADS:
            if (corpus, head) not in sets:
                continue
            calibration = sets[(corpus, head)]
            table.setdefault(corpus, {})[head] = {
                "other corpora": {
                    "temperature": temperature,
                    "threshold": threshold,
                    **calibration_figures(calibration, temperature, threshold),
                },
                "served": calibration_figures(
                    calibration, served.temperature, served.uncertain_below
                ),
            }
    return table


def held_out_calibration_sets(
    embeddings: ClipEmbeddings, corpora: Sequence[str], labels: tuple[str, ...],
    fit_without: Callable[[str], AdaptedHead], rule: AdaptationMetadata, seed: int,
    progress: Callable[[str], None],
) -> dict[tuple[str, str], CalibrationSet]:  # fmt: skip
    """(corpus, head) → every clip of ``corpus`` answered at temperature 1 by a head that never
    trained on it (``fit_without(corpus)``), with the profiles of :data:`HEADS`."""
    lax = dataclasses.replace(rule, temperature=1.0, min_answer_entropy=0.0)
    sets = {}
    for corpus in corpora:
        head = fit_without(corpus)
        speakers = sorted(set(embeddings.speaker[embeddings.corpus == corpus].tolist()))
        answers = score_corpus(embeddings, corpus, speakers, head, lax, labels, seed)
        sets |= {(corpus, name): answers[name].calibration_set() for name in HEADS}
        progress(f"calibration: {corpus} answered by a head without it")
    return sets


def enrolments(
    embeddings: ClipEmbeddings, groups: dict[str, str], seed: int = 0
) -> Iterator[Enrolment]:
    """15-clip enrolments of every speaker in ``groups`` (speaker → group): per emotion one of
    that emotion only (:data:`DRAWS` draws, or all its clips once when it has 8–14), and
    :data:`DRAWS` random and 60 %-neutral mixes per speaker."""
    from ser_training.adaptation.protocol import stats_of

    rng = np.random.default_rng(seed)
    for speaker, group in sorted(groups.items()):
        clips = np.flatnonzero(embeddings.speaker == speaker)
        label = embeddings.label[clips]
        for emotion in sorted(set(label.tolist())):
            own = clips[label == emotion]
            if len(own) > ENROLMENT_CLIPS:
                draws = [rng.choice(own, ENROLMENT_CLIPS, replace=False) for _ in range(DRAWS)]
            else:
                draws = [own] if len(own) >= MIN_SHORT_CLIPS else []
            for draw in draws:
                yield Enrolment(group, speaker, "one emotion", emotion, stats_of(embeddings, draw))
        if len(set(label.tolist())) >= 2 and len(clips) > ENROLMENT_CLIPS:
            for _ in range(DRAWS):
                draw = rng.choice(clips, ENROLMENT_CLIPS, replace=False)
                yield Enrolment(group, speaker, "random", "", stats_of(embeddings, draw))
        neutral, other = clips[label == "neutral"], clips[label != "neutral"]
        if len(neutral) >= NEUTRAL_CLIPS and len(other) >= ENROLMENT_CLIPS - NEUTRAL_CLIPS:
            for _ in range(DRAWS):
                draw = np.concatenate([
                    rng.choice(neutral, NEUTRAL_CLIPS, replace=False),
                    rng.choice(other, ENROLMENT_CLIPS - NEUTRAL_CLIPS, replace=False),
                ])  # fmt: skip
                yield Enrolment(group, speaker, "60 % neutral", "", stats_of(embeddings, draw))


def uniformity_refused(
    stats: SpeakerStats, rule: AdaptationMetadata, labels: tuple[str, ...]
) -> bool:
    """Whether ``rule`` refuses the profile for its uniformity (its window count left aside:
    a 15-clip enrolment of 3-s clips is a few windows short of ``min_windows`` anyway)."""
    return usability(stats, dataclasses.replace(rule, min_windows=1), labels, SPEAKER) is not None


def _share(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def one_mood_row(enrolled: Sequence[Enrolment], refused: Sequence[bool]) -> dict:
    """One group under one rule: the share of one-emotion enrolments refused (overall and per
    emotion), the speakers whose every emotion is refused in most draws, and the share of
    random and 60 %-neutral mixes accepted."""
    one = [(e, r) for e, r in zip(enrolled, refused, strict=True) if e.kind == "one emotion"]
    by_speaker: dict[str, dict[str, list[bool]]] = {}
    for enrolment, flag in one:
        by_speaker.setdefault(enrolment.speaker, {}).setdefault(enrolment.emotion, []).append(flag)
    every_emotion = [
        all(np.mean(flags) > 0.5 for flags in emotions.values()) for emotions in by_speaker.values()
    ]
    emotions = sorted({e.emotion for e, _ in one})
    mixes = {
        kind: _share([not r for e, r in zip(enrolled, refused, strict=True) if e.kind == kind])
        for kind in ENROLMENT_KINDS[1:]
    }
    return {
        "one_emotion_refused": _share([r for _, r in one]),
        "per_emotion_refused": {
            emotion: _share([r for e, r in one if e.emotion == emotion]) for emotion in emotions
        },
        "speakers_all_refused": [sum(every_emotion), len(every_emotion)],
        "random_accepted": mixes["random"],
        "60 % neutral_accepted": mixes["60 % neutral"],
        "enrolments": len(enrolled),
    }


def one_mood_table(
    enrolled: Sequence[Enrolment], rules: dict[str, AdaptationMetadata], labels: tuple[str, ...]
) -> dict:
    """Group → rule name → :func:`one_mood_row`."""
    table: dict = {}
    for name, rule in rules.items():
        refused = [uniformity_refused(e.stats, rule, labels) for e in enrolled]
        for group in sorted({e.group for e in enrolled}):
            mine = [i for i, e in enumerate(enrolled) if e.group == group]
            table.setdefault(group, {})[name] = one_mood_row(
                [enrolled[i] for i in mine], [refused[i] for i in mine]
            )
    return table


def with_entropy_rule(model: Path, limit: float) -> None:
    """Write ``limit`` into ``model``'s adaptation metadata (graph untouched, sidecar too)."""
    proto = onnx.load(str(model))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    if metadata.adaptation is None:
        raise ValueError(f"{model} has no adapted head (ser-train adapt) to set a rule for")
    adaptation = dataclasses.replace(metadata.adaptation, min_answer_entropy=limit)
    write_metadata(proto, dataclasses.replace(metadata, adaptation=adaptation), model)


def trust_markdown(summary: dict) -> str:
    """The two tables of ``summary`` (:func:`run_trust`) as Markdown, with their protocol."""
    lines = [
        f"# Trust: calibration per corpus and one-mood enrolments ({summary['model_version']})",
        "",
        summary["protocol"],
        "",
        "## Calibration per corpus, every head",
        "",
        "| corpus | head | clips | accuracy | ECE | sure share | sure right | ECE at the "
        "served T | sure share / right at the served threshold |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for corpus, heads in sorted(summary["calibration"].items()):
        for head, figures in heads.items():
            own, served = figures["other corpora"], figures["served"]
            lines.append(
                f"| {corpus} | {head} | {own['clips']} | {pct(own['accuracy'])} | "
                f"{own['ece']:.3f} | {pct(own['sure_share'])} | {pct(own['sure_accuracy'])} "
                f"| {served['ece']:.3f} | {pct(served['sure_share'])} / "
                f"{pct(served['sure_accuracy'])} |"
            )
    for corpus, figures in sorted(summary.get("plain", {}).items()):
        lines.append(
            f"| {corpus} | plain | {figures['clips']} | {pct(figures['accuracy'])} | "
            f"{figures['ece']:.3f} | {pct(figures['sure_share'])} | "
            f"{pct(figures['sure_accuracy'])} | (its own run) | |"
        )
    lines += [
        "",
        "## One-mood enrolments (15 clips), by the usable rule's uniformity tests",
        "",
        "| group | rule | one emotion refused | speakers with every emotion refused | random "
        "accepted | 60 % neutral accepted | per emotion refused |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, rules in sorted(summary["one_mood"].items()):
        for rule, row in rules.items():
            done, of = row["speakers_all_refused"]
            per = ", ".join(f"{e} {pct(v)}" for e, v in row["per_emotion_refused"].items())
            lines.append(
                f"| {group} | {rule} | {pct(row['one_emotion_refused'])} | {done} of {of} | "
                f"{pct(row['random_accepted'])} | {pct(row['60 % neutral_accepted'])} | "
                f"{per} |"
            )
    return "\n".join(lines) + "\n"


def save(out: Path, summary: dict) -> Path:
    """``out/evaluation/trust.json`` and ``trust.md``; returns the Markdown's path."""
    folder = out / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trust.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n"
    )
    markdown = folder / "trust.md"
    markdown.write_text(trust_markdown(summary))
    return markdown


@dataclass(frozen=True)
class TrustConfig:
    model: Path = Path("models/ser_model.onnx")  # the served model: the limit is written here
    protocol_model: Path | None = None  # ser-train train's model; None: ``model`` itself
    data_dir: Path = Path("../shared/datasets")
    work: Path = Path("artifacts/adaptation")  # embeddings cache (shared with adapt)
    seed: int = 0
    threads: int = 2


def plain_figures(evaluation: Path) -> dict:
    """The plain head's held-out-corpus calibration figures from its run's summary.json."""
    path = evaluation / "summary.json"
    if not path.exists():
        return {}
    held_out = json.loads(path.read_text()).get("calibration", {}).get("held_out_corpora", {})
    return {
        corpus: {
            "clips": figures["calibrated"]["n"],
            "accuracy": figures["calibrated"]["accuracy"],
            "ece": figures["calibrated"]["ece"],
            "sure_share": figures["at_threshold"]["coverage"],
            "sure_accuracy": figures["at_threshold"]["accuracy"],
        }
        for corpus, figures in held_out.items()
    }


def run_trust(config: TrustConfig, progress: Callable[[str], None] = print) -> dict:
    """Both tables on the protocol model's embeddings, then the limit into ``config.model``."""
    from ser_training.adaptation.job import (
        MIN_ANSWER_ENTROPY,
        RECIPES,
        AdaptConfig,
        _is_test,
        _load,
        fit,
        write_card_section,
    )
    from ser_training.adaptation.report import stored_adaptation

    served = ModelMetadata.from_properties(
        {
            p.key: p.value
            for p in onnx.load(str(config.model), load_external_data=False).metadata_props
        }
    )
    if served.adaptation is None:
        raise ValueError(f"{config.model} has no adapted head: run ser-train adapt first")
    protocol_model = config.protocol_model or config.model
    adapt_config = AdaptConfig(model=protocol_model, data_dir=config.data_dir,
                               work=config.work, threads=config.threads)  # fmt: skip
    _, metadata, embeddings = _load(adapt_config, progress)
    labels = metadata.labels
    recipe = RECIPES[adapt_config.recipe]
    present = set(embeddings.corpus.tolist())
    corpora = [c for c in recipe.corpora if c in present]

    def fit_without(corpus: str):
        train = [s for s in sorted(set(embeddings.speaker.tolist()))
                 if s.split(":", 1)[0] in corpora and s.split(":", 1)[0] != corpus
                 and not _is_test(s)]  # fmt: skip
        return fit(embeddings, recipe, train, labels, config.seed)

    sets = held_out_calibration_sets(
        embeddings, corpora, labels, fit_without, served.adaptation, config.seed, progress
    )
    trained_on = set(metadata.training_data.get("corpora", []))
    groups = {
        speaker: "test speakers" if speaker.split(":", 1)[0] in trained_on else
        speaker.split(":", 1)[0]
        for speaker in sorted(set(embeddings.speaker.tolist()))
        if speaker.split(":", 1)[0] not in trained_on or _is_test(speaker)
    }  # fmt: skip
    progress(f"one-mood enrolments of {len(groups)} speakers the plain head never heard")
    enrolled = list(enrolments(embeddings, groups, config.seed))
    rules = {
        "dominant share only": dataclasses.replace(served.adaptation, min_answer_entropy=0.0),
        f"+ entropy ≥ {MIN_ANSWER_ENTROPY:g} nats": dataclasses.replace(
            served.adaptation, min_answer_entropy=MIN_ANSWER_ENTROPY
        ),
    }
    summary = {
        "model_version": served.model_version,
        "protocol_model_version": metadata.model_version,
        "protocol": (
            "Calibration: per corpus, a normalised head trained without it (seed "
            f"{config.seed}) answers all its clips with a 100-random-clip domain profile "
            "and with each speaker's own 30 clips; temperature and 'not sure' threshold "
            "(lowest with sure answers ≥ 80 % right, pooled) fitted on the other corpora's "
            "answers; 'served': the model's own temperature "
            f"{served.adaptation.temperature:.3f} and threshold "
            f"{served.adaptation.uncertain_below:.3f}. ECE: 10 equal-width bins. Plain: the "
            "plain head's held-out-corpus runs (summary.json). One-mood: 15-clip enrolments "
            f"({DRAWS} draws per speaker and emotion, seed {config.seed}) of speakers the "
            f"plain head of {metadata.model_version} never heard, judged by the usable rule's "
            "uniformity tests (dominant share, answer entropy; the window minimum left aside)."
        ),
        "min_answer_entropy": MIN_ANSWER_ENTROPY,
        "calibration": calibration_table(sets, served.adaptation),
        "plain": plain_figures(config.model.parent / "evaluation"),
        "one_mood": one_mood_table(enrolled, rules, labels),
    }
    written = save(config.model.parent, summary)
    with_entropy_rule(config.model, MIN_ANSWER_ENTROPY)
    adaptation = stored_adaptation(config.model.parent)
    if adaptation is not None:  # the card's profile sections, the trust section with them
        write_card_section(config.model.parent, adaptation, progress)
    progress(f"wrote {written} and min_answer_entropy {MIN_ANSWER_ENTROPY} into {config.model}")
    return summary
