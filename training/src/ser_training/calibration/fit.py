"""How a model is calibrated: temperature, "not sure" threshold and arousal/valence mapping.

The model's own (uncalibrated) window probabilities on the validation speakers, and the
comparison's held-out-corpus predictions of the same recipe where they exist, choose the
temperature (and the learned arousal head) and the "not sure" threshold; the test speakers
only measure the result. The figures go into the summary,
report and model card (:mod:`ser_training.calibration.refit` applies them to an exported model).
ONNX Runtime only: no TensorFlow is needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime

from ser_features.model_metadata import INPUT_NAME, OUTPUT_NAME
from ser_inference.affect import Calibration, arousal_valence
from ser_training.calibration.affect_heads import arousal_head_calibration, fit_heads
from ser_training.calibration.shifted import shifted_set
from ser_training.calibration.temperature import (
    THRESHOLD_TARGET_ACCURACY,
    CalibrationSet,
    accuracy_coverage,
    calibration_figures,
    fit_shared_temperature,
    plot_reliability,
    shared_threshold,
    tempered,
)
from ser_training.data.corpora import Utterance
from ser_training.evaluation.runs import load_arrays
from ser_training.features.cache import FeatureCache
from ser_training.features.windows import WindowSet, assemble

COVERAGE_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ONNX_BATCH = 256  # windows per session.run


def window_probabilities(session: onnxruntime.InferenceSession, features: np.ndarray) -> np.ndarray:
    """Model output for windows of shape (n, n_frames, n_features) → (n, n_labels)."""
    parts = [
        session.run([OUTPUT_NAME], {INPUT_NAME: features[i : i + ONNX_BATCH]})[0]
        for i in range(0, len(features), ONNX_BATCH)
    ]
    return np.concatenate(parts).astype(np.float64)


def affect_figures(
    probabilities: np.ndarray, truth: np.ndarray, labels: Sequence[str], calibration: Calibration
) -> dict:
    """Binary arousal accuracy (high vs low) and valence-sign accuracy (neutral left out), with
    the always-'high arousal' baseline beside it."""
    arousal, valence = arousal_valence(probabilities, labels, calibration)
    true_arousal, true_valence = calibration.vectors(labels)
    high = true_arousal[truth] > 0.5
    signed = true_valence[truth] != 0
    return {
        "arousal_accuracy": float(((arousal > 0.5) == high).mean()),
        "always_high_arousal": float(high.mean()),
        "valence_sign_accuracy": float(
            (np.sign(valence[signed]) == np.sign(true_valence[truth][signed])).mean()
        ),
        "always_negative_valence": float((true_valence[truth][signed] < 0).mean()),
        "n_valence": int(signed.sum()),
    }


def measure(
    uncalibrated: np.ndarray, windows: WindowSet, calibration: Calibration, labels: Sequence[str]
) -> dict:
    """Before/after figures, accuracy-coverage and arousal/valence for one scored set."""
    from ser_features import utterance_probabilities

    truth = windows.utterance_labels
    before = utterance_probabilities(uncalibrated, windows.utterance)
    after = utterance_probabilities(
        tempered(uncalibrated, calibration.temperature), windows.utterance
    )
    return before_and_after(before, after, truth, labels, calibration)


def before_and_after(
    before: np.ndarray, after: np.ndarray, truth: np.ndarray, labels: Sequence[str],
    calibration: Calibration,
) -> dict:  # fmt: skip
    """Every calibration figure of one scored set: utterance probabilities before and after
    calibration, shape (n, n_labels) each, and their truth, shape (n,)."""
    (kept,) = accuracy_coverage(after, truth, [calibration.uncertain_below])
    return {
        "uncalibrated": calibration_figures(before, truth),
        "calibrated": calibration_figures(after, truth),
        "coverage_curve": accuracy_coverage(after, truth, COVERAGE_THRESHOLDS),
        "at_threshold": {"coverage": kept["coverage"], "accuracy": kept["accuracy"]},
        **affect_figures(after, truth, labels, calibration),
    }


def answer_mapping(
    sets: Sequence[CalibrationSet], temperature: float, labels: Sequence[str],
    learned_arousal: bool = False,
) -> Calibration:  # fmt: skip
    """The arousal/valence mapping fitted with the temperature: the derived mapping, or, with
    ``learned_arousal`` and a shifted set, arousal from the learned head fitted on ``sets``.
    Which one is the recipe's held-out folds' decision (affect_heads.learned_arousal_wins): the
    first recipe's runs chose the learned head (73.8 ± 2.0 against 70.2 ± 2.1 %), Model v3's
    the derived mapping (78.5 ± 1.1 against 72.7 ± 0.5 %; `ser-train affect-heads`,
    models/evaluation/affect_heads.md). Valence stays derived (the learned one never measured
    better)."""
    mapping = Calibration.default(labels)
    if len(sets) < 2 or not learned_arousal:
        return mapping

    return arousal_head_calibration(mapping, fit_heads(sets, temperature, labels)[0])


def fit_calibration(
    uncalibrated: np.ndarray, validation: WindowSet, labels: Sequence[str],
    shifted: CalibrationSet | None = None, learned_arousal: bool = False,
) -> Calibration:  # fmt: skip
    """Temperature and threshold for one model, from its validation speakers' window
    probabilities (shape (n_windows, n_labels), before any temperature).

    Rule (fixed before any test figure): with ``shifted`` (see shifted_set), the temperature
    minimises the mean of two utterance-level NLLs, the validation speakers' (new speakers of
    known corpora) and the shifted set's (new corpora), each weighing the same; without it, the
    validation speakers' alone. The "not sure" threshold is then the lowest that meets its
    target on each of the same sets at that temperature (:func:`shared_threshold`; before
    2026-12-06 the validation speakers' alone, which let Model v3, right 83 % of the time on
    them, flag nothing); arousal/valence as :func:`answer_mapping` says.
    """
    truth = validation.utterance_labels
    sets = [CalibrationSet(uncalibrated, validation.utterance, truth)]
    if shifted is not None:
        sets.append(shifted)
    temperature = fit_shared_temperature(sets)
    default = answer_mapping(sets, temperature, labels, learned_arousal)
    source = (
        "the mean of two utterance-level NLLs, the validation speakers' and that of "
        f"{len(shifted.truth)} held-out-corpus predictions (models trained without the corpus, "
        "its non-test speakers)"
        if shifted is not None
        else "minimum utterance-level NLL on the validation speakers"
    )
    head = (
        "; arousal: a logistic regression on the calibrated log-probabilities fitted on the same "
        "two sets"
        if default.arousal_weights
        else "; arousal: the derived mapping"
        + (" (a fitted head measured no better on the recipe's held-out corpora)"
           if shifted is not None else "")
    )  # fmt: skip
    return dataclasses.replace(
        default,
        temperature=temperature,
        uncertain_below=shared_threshold(sets, temperature),
        fitted_on=(
            f"temperature: {source}; threshold: the lowest top probability whose answers are "
            f"right ≥ {THRESHOLD_TARGET_ACCURACY:.0%} of the time on "
            + ("each of the same two sets" if shifted is not None else "the validation speakers")
            + f" (rules fixed before any test figure){head}"
        ),
    )


def calibration_section(
    raw: Callable[[WindowSet], np.ndarray], validation: WindowSet, test: Sequence[Utterance],
    cache: FeatureCache, labels: Sequence[str], figures_dir: Path,
    shifted: CalibrationSet | None = None, learned_arousal: bool = False,
) -> dict:  # fmt: skip
    """Fit on ``validation`` (and ``shifted``, ``learned_arousal``: see fit_calibration), measure on the validation
    speakers and on each test corpus (and all), draw the reliability diagram. ``raw`` gives a
    window set's uncalibrated window probabilities."""
    from ser_features import utterance_probabilities

    uncalibrated_validation = raw(validation)
    calibration = fit_calibration(
        uncalibrated_validation, validation, labels, shifted, learned_arousal
    )
    section: dict = {
        "calibration": calibration.to_dict(),
        "validation": measure(uncalibrated_validation, validation, calibration, labels),
        "test": {},
    }
    if not test:
        return section
    curves = {}
    for corpus in [*sorted({u.corpus for u in test}), "all"]:
        windows = assemble([u for u in test if corpus in ("all", u.corpus)], cache, labels)
        uncalibrated = raw(windows)
        section["test"][corpus] = measure(uncalibrated, windows, calibration, labels)
        if corpus == "all":
            truth = windows.utterance_labels
            curves["uncalibrated"] = (
                utterance_probabilities(uncalibrated, windows.utterance),
                truth,
            )
            curves[f"calibrated (T = {calibration.temperature:.2f})"] = (
                utterance_probabilities(tempered(uncalibrated, calibration.temperature), windows.utterance),
                truth,
            )  # fmt: skip
    figures_dir.mkdir(parents=True, exist_ok=True)
    plot_reliability(curves, figures_dir / "reliability.png")
    return section


def held_out_corpus_calibration(
    runs_dir: Path, recipe: str, labels: Sequence[str], shift_aware: bool = True,
    learned_arousal: bool = False,
) -> dict:  # fmt: skip
    """Calibration measured where it matters most: on corpora a model never saw.

    Uses the comparison's stored runs of ``recipe`` (their held-out-corpus folds). Each fold's
    temperature follows fit_calibration's rule: its own validation speakers, and (with
    ``shift_aware``) the held-out predictions of the *other* corpora, so the measured corpus never
    calibrates itself; the threshold is chosen on the same sets. Only utterance
    probabilities are stored, so the temperature acts on them (the served graph tempers each
    window before averaging: close, not identical). Figures are pooled over the runs (seeds).
    """

    shifted: dict[str, CalibrationSet | None] = {}
    pooled: dict[str, dict[str, list]] = {}
    for path in sorted(runs_dir.glob(f"{recipe}__*.npz")):
        arrays = load_arrays(path)
        for key in arrays:
            if not key.endswith("_validation_probabilities") or key.startswith("validation"):
                continue
            corpus = key.removesuffix("_validation_probabilities")
            truth = arrays[f"{corpus}_validation_truth"]
            if corpus not in shifted:
                shifted[corpus] = (
                    shifted_set(runs_dir, recipe, len(labels), exclude=corpus)
                    if shift_aware
                    else None
                )
            sets = [CalibrationSet.of_utterances(arrays[key], truth)]
            if shifted[corpus] is not None:
                sets.append(shifted[corpus])
            fitted = fit_shared_temperature(sets)
            served = answer_mapping(sets, fitted, labels, learned_arousal)
            parts = pooled.setdefault(
                corpus,
                {"raw": [], "after": [], "truth": [], "t": [], "threshold": [], "affect": []},
            )
            parts["affect"].append(
                affect_figures(
                    tempered(arrays[f"{corpus}_probabilities"], fitted),
                    arrays[f"{corpus}_truth"], labels, served,
                )
            )  # fmt: skip
            parts["raw"].append(arrays[f"{corpus}_probabilities"])
            parts["after"].append(tempered(arrays[f"{corpus}_probabilities"], fitted))
            parts["truth"].append(arrays[f"{corpus}_truth"])
            parts["t"].append(round(fitted, 3))
            parts["threshold"].append(shared_threshold(sets, fitted))
    out = {}
    default = Calibration.default(labels)
    for corpus, parts in pooled.items():
        raw, after = np.concatenate(parts["raw"]), np.concatenate(parts["after"])
        truth = np.concatenate(parts["truth"])
        threshold = float(np.mean(parts["threshold"]))
        calibration = Calibration(
            uncertain_below=threshold, arousal=default.arousal, valence=default.valence
        )
        out[corpus] = {
            "runs": len(parts["raw"]),
            "temperatures": parts["t"],
            **before_and_after(raw, after, truth, labels, calibration),
            # Each run's own arousal head: the mean over runs of equal size is the pooled figure.
            **{key: float(np.mean([a[key] for a in parts["affect"]])) if key != "n_valence"
               else sum(a[key] for a in parts["affect"]) for key in parts["affect"][0]},
        }  # fmt: skip
    return out
