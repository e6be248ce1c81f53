"""``ser-train adapt``: fit the speaker-adapted head on the shipped model's training speakers,
choose its temperature and usable rule on its validation speakers, measure it on held-out
speakers and corpora, and write it into the model (one ONNX graph, issue 24).

Reads top to bottom: embeddings → split → training profiles → head → calibration and rule →
protocol → export. No test speaker or held-out corpus informs any choice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ser_features.model_metadata import AdaptationMetadata
from ser_inference import EmotionClassifier
from ser_training.adaptation.embeddings import ClipEmbeddings, cached_embeddings
from ser_training.adaptation.graph_io import write_features_model
from ser_training.adaptation.head import STD_FLOOR, AdaptedHead, choose_head, standardised
from ser_training.adaptation.protocol import (
    ENROLMENTS,
    enrolment_draws,
    evaluate,
    label_indices,
    speaker_answers,
    stats_of,
    windows_of,
)
from ser_training.calibration.temperature import (
    CalibrationSet,
    choose_threshold,
    fit_shared_temperature,
)
from ser_training.data.corpora import find_corpora, scan_data_dir
from ser_training.data.splits import split_by_speaker
from ser_training.model.adaptation_graph import write_adapted_model

logger = logging.getLogger(__name__)

HELD_OUT = ("nemo", "turev", "urdu")  # corpora neither head ever trained on, when present
TRAINING_PROFILES = ("all", "random_10", "random_30", "neutral_60_30")  # per training speaker
RULE_DRAWS = (
    "random_3", "random_5", "random_10", "random_30", "neutral_60_30", "neutral_only_10",
    "neutral_only_30",
)  # fmt: skip
MIN_WINDOWS_GRID = (1, 2, 4, 6, 8, 12, 16, 24)
STATISTICS = (
    "per selected encoder layer (ser.encoder.layers), the mean then the population standard "
    "deviation over the pooled encoder steps of one 3-s window; a profile is their mean and "
    "standard deviation over the speaker's voiced windows"
)


@dataclass(frozen=True)
class AdaptConfig:
    model: Path = Path("models/ser_model.onnx")  # a Model v3 graph (plain; a head is re-fitted)
    data_dir: Path = Path("../shared/datasets")
    out: Path = Path("models")  # the adapted model goes to out/ser_model.onnx
    work: Path = Path("artifacts/adaptation")  # embeddings cache
    seeds: tuple[int, ...] = (0, 1, 2)
    threads: int = 2
    held_out: tuple[str, ...] = HELD_OUT


def _speakers(embeddings: ClipEmbeddings, utterances) -> list[str]:
    wanted = {u.speaker for u in utterances}
    return sorted(s for s in set(embeddings.speaker.tolist()) if s in wanted)


def standardised_set(
    embeddings: ClipEmbeddings, speakers: Sequence[str], profiles: Sequence[str],
    labels: tuple[str, ...], seed: int,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """Per (speaker, profile): (standardised windows, clip index per window, clip labels), every
    clip of the speaker standardised with a profile drawn as users enrol."""
    sets = []
    rng = np.random.default_rng(seed)
    for clips, _, enrolment in enrolment_draws(embeddings, speakers, profiles, rng):
        rows, clip = windows_of(embeddings, clips)
        x = standardised(embeddings.features[rows], stats_of(embeddings, enrolment), STD_FLOOR)
        sets.append((x, clip, label_indices(embeddings, clips, labels)))
    return sets


def choose_rule(
    embeddings: ClipEmbeddings, speakers: Sequence[str], head: AdaptedHead, temperature: float,
    labels: tuple[str, ...], seeds: Sequence[int] = (100, 101, 102, 103, 104),
) -> tuple[int, float, dict]:  # fmt: skip
    """The usable rule, from the validation speakers' enrolment draws (rule fixed before any
    test figure):

    * ``max_dominant_share``: midway between the mean dominant share (of the plain head's
      answers) of neutral-only profiles and of 60 %-neutral profiles: the trap is told from
      the realistic mix by how uniform the plain answers are;
    * ``min_windows``: given that share, the length that maximises the mean gain over plain
      answers, a flagged profile gaining nothing (it is answered plain); ties go to the
      shorter.
    """
    lax = AdaptationMetadata(
        n_features=embeddings.features.shape[1], layers=("-",), statistics="", std_floor=STD_FLOOR,
        min_windows=1, max_dominant_share=1.0, temperature=temperature, uncertain_below=0.0,
        fitted_on="",
    )  # fmt: skip
    draws = []  # (n_windows, dominant share, gain in % of the speaker's clips, draw name)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for clips, name, enrolment in enrolment_draws(embeddings, speakers, RULE_DRAWS, rng):
            answers = speaker_answers(embeddings, clips, enrolment, head, lax, labels)
            gain = 100.0 * float(
                (answers.forced == answers.truth).mean() - (answers.plain == answers.truth).mean()
            )
            profile = answers.profile
            draws.append((profile.n_windows, profile.dominant_share, gain, name))
    windows = np.array([d[0] for d in draws])
    share = np.array([d[1] for d in draws])
    gain = np.array([d[2] for d in draws])

    names = np.array([d[3] for d in draws])
    trap = share[np.char.startswith(names, "neutral_only")].mean()
    mix = share[names == "neutral_60_30"].mean()
    max_share = round(float(trap + mix) / 2, 2)

    def score(min_windows: int) -> float:
        usable = (windows >= min_windows) & (share <= max_share)
        return float(np.mean(np.where(usable, gain, 0.0)))

    min_windows = max(MIN_WINDOWS_GRID, key=lambda n: (round(score(n), 9), -n))
    by_draw = {
        name: {
            "mean_gain": round(float(gain[[d[3] == name for d in draws]].mean()), 2),
            "mean_dominant_share": round(float(share[[d[3] == name for d in draws]].mean()), 3),
            "mean_windows": round(float(windows[[d[3] == name for d in draws]].mean()), 1),
        }
        for name in RULE_DRAWS
        if any(d[3] == name for d in draws)
    }
    return (
        min_windows,
        float(max_share),
        {"mean_gain_with_rule": round(score(min_windows), 2), "draws": by_draw},
    )


def run_adaptation(config: AdaptConfig, progress=print) -> dict:
    """The whole job; returns the summary written to out/evaluation/adaptation.json."""
    started = time.perf_counter()
    config.work.mkdir(parents=True, exist_ok=True)
    features_model = config.work / "features_model.onnx"
    proto, metadata = write_features_model(config.model, features_model)
    classifier = EmotionClassifier.load(features_model, threads=1)
    labels = metadata.labels
    trained_on = list(metadata.training_data.get("corpora", []))
    present = find_corpora(config.data_dir)
    held_out = [c for c in config.held_out if c not in trained_on and c in present]
    found = scan_data_dir(config.data_dir, trained_on, extra_corpora=held_out)
    utterances = sorted(found.utterances, key=lambda u: str(u.path))
    progress(f"embedding {len(utterances)} clips through {features_model}")
    embeddings = cached_embeddings(classifier, utterances, config.work, config.threads)

    # The plain model's own split: the adapted head trains on its training speakers only.
    split = split_by_speaker([u for u in utterances if u.corpus in trained_on])
    described = split.describe()["train"]
    expected = metadata.training_data.get("train_speakers")
    if expected is not None and described != expected:
        raise ValueError(
            f"the split's training speakers {described} are not the model's {expected}: "
            "adapt the model with the split it was trained with"
        )
    train = _speakers(embeddings, split.train)
    validation = _speakers(embeddings, split.validation)
    progress(f"head: {len(train)} training speakers, {len(validation)} validation speakers")
    train_sets = standardised_set(embeddings, train, TRAINING_PROFILES, labels, seed=0)
    x = np.concatenate([s[0] for s in train_sets])
    y = np.concatenate([s[2][s[1]] for s in train_sets])
    validation_sets = standardised_set(
        embeddings, validation, ("random_10", "neutral_60_30"), labels, seed=1
    )
    head, c_scores = choose_head((x, y), validation_sets, len(labels))
    del x, y, train_sets

    calibration_sets = [
        CalibrationSet(head.probabilities(v[0]), v[1], v[2]) for v in validation_sets
    ]
    temperature = fit_shared_temperature(calibration_sets)
    validation_probabilities = np.concatenate([s.calibrated(temperature) for s in calibration_sets])
    uncertain_below = choose_threshold(
        validation_probabilities, np.concatenate([s.truth for s in calibration_sets])
    )
    min_windows, max_share, rule_evidence = choose_rule(
        embeddings, validation, head, temperature, labels
    )
    rule = AdaptationMetadata(
        n_features=embeddings.features.shape[1], layers=metadata.encoder.layers,
        statistics=STATISTICS, std_floor=STD_FLOOR, min_windows=min_windows,
        max_dominant_share=max_share, temperature=temperature, uncertain_below=uncertain_below,
        fitted_on=(
            "head: the plain model's training speakers, each standardised with profiles of "
            f"{', '.join(TRAINING_PROFILES)} clips; C, temperature, 'not sure' threshold and "
            "the usable rule: its validation speakers"
        ),
    )  # fmt: skip
    progress(f"C {head.c}, T {temperature:.3f}, rule: ≥ {min_windows} windows, ≤ {max_share:.0%}")

    test = {c: _speakers(embeddings, [u for u in split.test if u.corpus == c]) for c in trained_on}
    test |= {c: sorted({s for s in embeddings.speaker[embeddings.corpus == c]}) for c in held_out}
    table = evaluate(embeddings, test, head, rule, labels, config.seeds, progress=progress)
    summary = {
        "protocol": (
            "speaker adaptation (issue 24): per held-out speaker, a profile from an enrolment "
            "set of that speaker's unlabelled clips; every clip of the speaker (enrolment clips "
            "included: no label is used) answered by the adapted head, beside the same model's "
            "single-clip (plain) answer; 'served' applies the usable rule (unusable → plain), "
            f"'forced' adapts regardless; accuracy % of clips, mean ± sd over seeds {list(config.seeds)}; "
            f"enrolment sets {list(ENROLMENTS)} plus 'self' (each clip adapted to itself)"
        ),
        "test_speakers": {c: [s.split(":", 1)[1] for s in ids] for c, ids in test.items()},
        "held_out_corpora": held_out,
        "head": {
            "chosen_rule": {"min_windows": min_windows, "max_dominant_share": max_share},
            "c": head.c,
            "validation_accuracy_by_c": c_scores,
            "temperature": temperature,
            "uncertain_below": uncertain_below,
            "rule": rule_evidence,
        },
        "table": table,
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    compact = {c: {k: {m: v[m] for m in ("plain", "served", "forced", "usable_share", "gain",
                                         "served_sd", "forced_sd")}
                   for k, v in rows.items()} for c, rows in table.items()}  # fmt: skip
    rule = AdaptationMetadata(**{**rule.to_dict(), "layers": rule.layers, "metrics": compact})
    write_adapted_model(
        proto, metadata, head.weights, head.bias, rule, config.out / "ser_model.onnx"
    )
    (config.out / "evaluation").mkdir(parents=True, exist_ok=True)
    (config.out / "evaluation" / "adaptation.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n"
    )
    write_card_section(config.out, summary, progress)
    return summary


def write_card_section(out: Path, summary: dict, progress) -> None:
    """Re-render <out>/MODEL_CARD.md with the adaptation section, from the model's stored
    training summary (a model without one keeps its card as it is, and the job says so)."""
    from ser_training import job

    try:
        training_summary = job.stored_summary(out)
    except job.TrainingFailed as error:
        progress(f"model card not updated: {error}")
        return
    from ser_training.adaptation.report import adaptation_lines
    from ser_training.evaluation.model_card import write_model_card

    write_model_card(
        training_summary, out / "MODEL_CARD.md", job.license_note(training_summary),
        adaptation_lines(summary),
    )  # fmt: skip
