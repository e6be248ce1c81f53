"""The training job end to end: scan → split by speaker → features → fit → evaluate → export.

Every number this module produces is stored next to the protocol that produced it.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ser_features import EMOTIONS, FeatureConfig
from ser_features.model_metadata import ModelMetadata
from ser_training.augment import ROBUSTNESS_CONDITIONS
from ser_training.datasets import DEFAULT_LABEL_MAP, ScanResult, Utterance, scan_data_dir
from ser_training.feature_cache import FeatureCache
from ser_training.metrics import classification_metrics
from ser_training.model import ModelHyperparameters
from ser_training.splits import (
    TEST_SPEAKERS,
    VALIDATION_SPEAKERS,
    Split,
    speaker_id,
    split_by_speaker,
    split_leave_one_corpus_out,
)
from ser_training.trainer import DEFAULT_SEED, TrainingResult, fit, predict_utterances
from ser_training.windows import WindowSet, assemble

LICENSE_NOTE = (
    "Trained on RAVDESS (CC BY-NC-SA 4.0), TESS (CC BY-NC-ND 4.0) and EMO-DB (research use): "
    "the model inherits their non-commercial terms. Non-commercial research use only."
)
EVALUATED_CORPORA = ("ravdess", "emodb", "tess")  # corpora with their own test speakers


class TrainingFailed(RuntimeError):
    """The job cannot produce a trustworthy model (no data, failed extraction, …)."""


@dataclass
class JobConfig:
    """Settings of one training job; all of it is recorded in the report."""

    data_dir: Path
    out_dir: Path = Path("models")
    cache_dir: Path = Path("artifacts/cache/features")
    report_dir: Path | None = None  # default: <out_dir>/evaluation
    feature_config: FeatureConfig = field(default_factory=FeatureConfig)
    hyperparameters: ModelHyperparameters = field(default_factory=ModelHyperparameters)
    labels: tuple[str, ...] = EMOTIONS
    corpora: tuple[str, ...] | None = None  # None: every corpus found in data_dir
    augment_copies: int = 2  # random augmented copies per training file
    # Each corpus weighs the same within a class (trainer.fit). Off: measured worse across
    # corpora together with pad_mode 'repeat' (README).
    balance_corpora: bool = False
    epochs: int = 60
    seed: int = DEFAULT_SEED
    workers: int | None = None
    model_version: str = ""

    @property
    def variants(self) -> tuple[int, ...]:
        return tuple(range(self.augment_copies + 1))


def load_split(config: JobConfig) -> tuple[ScanResult, Split]:
    scan = scan_data_dir(config.data_dir, config.corpora)
    if not scan.utterances:
        raise TrainingFailed(f"no labelled audio found under {config.data_dir}")
    return scan, split_by_speaker(scan.utterances)


def prepare_features(
    cache: FeatureCache, split: Split, config: JobConfig, extra: Sequence[tuple[Path, object]] = ()
) -> None:
    """Extract (or find cached) clean features of every file and augmented copies of the
    training files only: augmentation happens after the split, so no test speaker's audio
    ever reaches training in any form."""
    items = [(u.path, 0) for u in (*split.train, *split.validation, *split.test)]
    items += [(u.path, v) for u in split.train for v in config.variants[1:]]
    items += list(extra)
    failures = cache.ensure(items, config.workers)
    if failures:
        shown = "\n  ".join(failures[:10])
        raise TrainingFailed(f"feature extraction failed for {len(failures)} files:\n  {shown}")


def fit_split(
    split: Split, cache: FeatureCache, config: JobConfig, *, verbose: int = 0
) -> tuple[TrainingResult, WindowSet, float]:
    """Extract the split's features (augmenting its training files only), then fit on the
    training speakers with early stopping on the validation speakers.

    Returns
    -------
    (training result, the training windows, seconds spent on feature extraction)
    """
    started = time.time()
    prepare_features(cache, split, config)
    extraction_s = time.time() - started
    train = assemble(split.train, cache, config.labels, config.variants)
    validation = assemble(split.validation, cache, config.labels) if split.validation else None
    result = fit(train, validation, config.labels, config.hyperparameters, epochs=config.epochs,
                 seed=config.seed, verbose=verbose, balance_corpora=config.balance_corpora)  # fmt: skip
    return result, train, extraction_s


def evaluate_by_corpus(
    model, utterances: Sequence[Utterance], cache: FeatureCache, labels: Sequence[str],
    variant: object = 0, restrict_to_present: bool = False,
) -> dict[str, dict]:  # fmt: skip
    """Utterance-level metrics per corpus (and 'all') for a set of test utterances."""
    results: dict[str, dict] = {}
    groups = {
        c: [u for u in utterances if u.corpus == c] for c in sorted({u.corpus for u in utterances})
    }
    if len(groups) > 1:
        groups["all"] = list(utterances)
    for name, group in groups.items():
        windows = assemble(group, cache, labels, variants=(variant,))
        results[name] = score(model, windows, labels, restrict_to_present)
        # Files with no voiced window cannot be scored (the API answers 422 for them): say so.
        results[name]["n_files"] = sum(u.label in labels for u in group)
    return results


def score(
    model, windows: WindowSet, labels: Sequence[str], restrict_to_present: bool = False
) -> dict:
    """Utterance-level metrics; optionally choose only among labels present in the truth
    (used across corpora, where a corpus lacks a class the model knows)."""
    probabilities = predict_utterances(model, windows)
    return score_probabilities(probabilities, windows.utterance_labels, labels, restrict_to_present)


def score_probabilities(
    probabilities: np.ndarray, truth: np.ndarray, labels: Sequence[str],
    restrict_to_present: bool = False,
) -> dict:  # fmt: skip
    """Metrics of utterance probabilities, shape (n_utterances, n_labels), against their truth
    label indices, shape (n_utterances,); see :func:`score`."""
    if restrict_to_present:
        absent = np.setdiff1d(np.arange(len(labels)), np.unique(truth))
        probabilities = probabilities.copy()
        probabilities[:, absent] = -1.0
    return classification_metrics(truth, probabilities.argmax(axis=1), labels)


def protocol_text(split: Split, config: JobConfig) -> str:
    speakers = split.describe()
    test = "; ".join(f"{c} {', '.join(s)}" for c, s in speakers["test"].items())
    validation = "; ".join(f"{c} {', '.join(s)}" for c, s in speakers["validation"].items())
    return (
        "Speaker-independent hold-out: no test or validation speaker contributes any training "
        f"audio. Test speakers — {test}. Validation speakers (early stopping, tuning) — "
        f"{validation}. Classes: {', '.join(config.labels)} (EMO-DB has no 'surprised'; its "
        "macro figures cover its 6 classes). Utterance-level: window probabilities are averaged "
        "per recording, as the API does. Augmentation is applied to training files only, after "
        "the split. The test speakers were fixed before training and never used for any choice."
    )


def train_and_evaluate(config: JobConfig, *, verbose: int = 2) -> dict:
    """The whole `make train`: returns the summary written to the report and metadata."""
    scan, split = load_split(config)
    cache = FeatureCache(config.cache_dir, config.feature_config)
    labels = config.labels
    result, train, extraction_s = fit_split(split, cache, config, verbose=verbose)
    test_results = evaluate_by_corpus(result.model, split.test, cache, labels)
    version = config.model_version or dt.datetime.now(dt.UTC).strftime("ser-cnn-%Y%m%d-%H%M")
    summary = {
        "model_version": version,
        "protocol": protocol_text(split, config),
        "test": test_results,
        "validation": result.validation,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "split": split.describe(),
        "counts": {
            "train_files": len(split.train),
            "validation_files": len(split.validation),
            "test_files": len(split.test),
            "train_windows": len(train.labels),
            "augmented_copies_per_train_file": config.augment_copies,
        },
        "balance_corpora": config.balance_corpora,
        "skipped": [f"{p.name}: {reason}" for p, reason in scan.skipped],
        "hyperparameters": config.hyperparameters.to_dict(),
        "feature_config": config.feature_config.to_dict(),
        "labels": list(labels),
        "label_map": {
            c: m for c, m in DEFAULT_LABEL_MAP.items() if c in {u.corpus for u in scan.utterances}
        },
        "seed": config.seed,
        "timing_s": {"features": round(extraction_s, 1), "total": None},
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }
    summary["_model"] = result
    summary["_cache"] = cache
    summary["_split"] = split
    return summary


def make_metadata(summary: dict, config: JobConfig) -> ModelMetadata:
    test = summary["test"]
    metrics = {
        "protocol": summary["protocol"],
        "held_out_speakers": {
            corpus: {k: test[corpus][k] for k in ("n", "accuracy", "uar", "macro_f1")}
            for corpus in test
        },
        "validation_accuracy": summary["validation"].get("accuracy"),
        "best_epoch": summary["best_epoch"],
    }
    if "leave_one_corpus_out" in summary:
        metrics["leave_one_corpus_out"] = {
            c: {k: r[k] for k in ("n", "accuracy", "uar")}
            for c, r in summary["leave_one_corpus_out"].items()
        }
    if "export" in summary:
        metrics["export"] = {
            "keras_onnx_max_abs_diff": summary["export"]["keras_onnx_max_abs_diff"]
        }
    if summary.get("leave_one_corpus_out_note"):
        metrics["leave_one_corpus_out_note"] = summary["leave_one_corpus_out_note"]
    training_data = {
        "corpora": sorted(summary["split"]["train"]),
        "train_speakers": summary["split"]["train"],
        "counts": summary["counts"],
        "label_map": summary["label_map"],
    }
    return ModelMetadata(
        labels=tuple(config.labels),
        feature_config=config.feature_config,
        model_version=summary["model_version"],
        metrics=metrics,
        training_data=training_data,
        license=LICENSE_NOTE,
    )


def leave_one_corpus_out(
    config: JobConfig, corpora: Sequence[str], *, verbose: int = 0
) -> dict[str, dict]:
    """Train on all but one corpus, test on every speaker of the held-out one.

    The held-out corpus is scored over the labels it contains (choosing only among those),
    and also without that restriction ('unrestricted_accuracy').
    """
    scan = scan_data_dir(config.data_dir, config.corpora)
    cache = FeatureCache(config.cache_dir, config.feature_config)
    results: dict[str, dict] = {}
    for held_out in corpora:
        split = split_leave_one_corpus_out(scan.utterances, held_out)
        trained, _, _ = fit_split(split, cache, config, verbose=verbose)
        test = assemble(split.test, cache, config.labels)
        # Predict once; every figure below is a view of the same utterance probabilities.
        probabilities = predict_utterances(trained.model, test)
        truth = test.utterance_labels
        restricted = score_probabilities(
            probabilities, truth, config.labels, restrict_to_present=True
        )
        unrestricted = score_probabilities(probabilities, truth, config.labels)
        restricted["by_speakers"] = speaker_group_scores(test, probabilities, config.labels)
        restricted["unrestricted_accuracy"] = unrestricted["accuracy"]
        restricted["unrestricted_prediction_distribution"] = unrestricted["prediction_distribution"]
        restricted["trained_on"] = sorted({u.corpus for u in split.train})
        restricted["n_files"] = sum(u.label in config.labels for u in split.test)
        restricted["best_epoch"] = trained.best_epoch
        results[held_out] = restricted
    return results


def speaker_group_scores(
    held_out: WindowSet, probabilities: np.ndarray, labels: Sequence[str]
) -> dict[str, dict]:
    """Held-out-corpus scores split by its usual test speakers and the rest.

    ``probabilities`` are the utterance probabilities of ``held_out``, shape
    (n_utterances, n_labels). Recipe choices (features, weighting, augmentation) are made on
    the 'other_speakers' figures only, so the 'test_speakers' figures stay untouched by any
    choice.
    """
    is_test = np.array(
        [speaker_id(u) in TEST_SPEAKERS.get(u.corpus, ()) for u in held_out.utterances]
    )
    truth = held_out.utterance_labels
    out: dict[str, dict] = {}
    for name, members in (("test_speakers", is_test), ("other_speakers", ~is_test)):
        if not members.any():
            continue
        m = score_probabilities(
            probabilities[members], truth[members], labels, restrict_to_present=True
        )
        speakers = sorted(
            {speaker_id(u) for u, keep in zip(held_out.utterances, members, strict=True) if keep}
        )
        out[name] = {k: m[k] for k in ("n", "accuracy", "uar")} | {"speakers": speakers}
    return out


def tess_reverse(config: JobConfig, *, verbose: int = 0) -> dict:
    """TESS's other direction: the main split tests on OAF; this trains with OAF and tests YAF."""
    scan = scan_data_dir(config.data_dir, config.corpora)
    swapped = {**TEST_SPEAKERS, "tess": frozenset({"YAF"})}
    split = split_by_speaker(scan.utterances, swapped, VALIDATION_SPEAKERS)
    cache = FeatureCache(config.cache_dir, config.feature_config)
    trained, _, _ = fit_split(split, cache, config, verbose=verbose)
    tess_test = [u for u in split.test if u.corpus == "tess"]
    return score(trained.model, assemble(tess_test, cache, config.labels), config.labels)


def robustness(model, split: Split, cache: FeatureCache, config: JobConfig) -> dict[str, dict]:
    """Accuracy on degraded copies of the RAVDESS and EMO-DB test speakers' files."""
    test = [u for u in split.test if u.corpus in ("ravdess", "emodb")]
    conditions = list(ROBUSTNESS_CONDITIONS)
    failures = cache.ensure([(u.path, c) for u in test for c in conditions], config.workers)
    if failures:
        raise TrainingFailed(f"robustness feature extraction failed: {failures[:5]}")
    table = {"clean": evaluate_by_corpus(model, test, cache, config.labels)}
    for condition in conditions:
        table[condition] = evaluate_by_corpus(model, test, cache, config.labels, variant=condition)
    return table


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in data.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, sort_keys=True, default=str) + "\n")
