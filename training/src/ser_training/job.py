"""The training job end to end: scan → split by speaker → features → fit → evaluate → export.

:func:`run_training_job` is the one typed entry point that `ser-train train` uses;
:func:`held_out_corpus_run` is the one that leave-one-corpus-out (`evaluate`) and the recipe
comparison (`compare`) use. Every number this module produces is stored next to the protocol
that produced it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ser_features import EMOTIONS, FeatureConfig
from ser_features.model_metadata import EncoderMetadata, ModelMetadata
from ser_training.data.corpora import (
    DEFAULT_LABEL_MAP,
    PARTIAL_CORPORA,
    ScanResult,
    Utterance,
    corpus_label_sets,
    scan_data_dir,
)
from ser_training.data.splits import (
    TEST_SPEAKERS,
    VALIDATION_SPEAKERS,
    Split,
    split_by_speaker,
    split_leave_one_corpus_out,
)
from ser_training.evaluation.metrics import score_probabilities, speaker_group_scores
from ser_training.evaluation.report import recipe_of
from ser_training.features.augment import AUGMENTATION_POLICIES, ROBUSTNESS_CONDITIONS
from ser_training.features.cache import FeatureCache
from ser_training.features.encoder_cache import EncoderCache
from ser_training.features.windows import WindowSet, assemble, normalise_by_speaker
from ser_training.model.network import ENCODER_HEAD, ModelHyperparameters
from ser_training.model.trainer import (
    BALANCE_MODES,
    DEFAULT_EPOCHS,
    DEFAULT_SEED,
    TrainingResult,
    fit,
    predict_utterances,
    predict_windows,
    score,
)

LICENSE_NOTE = (
    "Trained on RAVDESS (CC BY-NC-SA 4.0), TESS (CC BY-NC-ND 4.0) and EMO-DB (research use): "
    "the model inherits their non-commercial terms. Non-commercial research use only."
)
EXTRA_LICENSE_NOTE = {
    "turev": "TurEV-DB (CC BY-NC-ND 4.0)",
    "urdu": "URDU (research use)",
    "nemo": "nEMO (CC BY-NC-SA 4.0)",
}
# The hand-crafted CNN (`--encoder none`): its augmented copies per training file and the
# `compare` recipe whose stored runs calibrate it.
CNN_AUGMENT_COPIES = 2
CNN_RECIPE_NAME = "stats_pooling"
# An encoder recipe's copies (each is another pass of the encoder over the training audio)
# and the comparison recipe whose runs calibrate it.
ENCODER_AUGMENT_COPIES = 1
ENCODER_RECIPE_NAME = "whisper_head"
# What the defaults train: the winner of `make compare` (models/evaluation/compare), Model
# v3's whisper_head (Whisper tiny.en encoder + Conv1D head) by the comparison's decision rule.
DEFAULT_ENCODER: str | None = "whisper-tiny.en"
DEFAULT_RECIPE_NAME = ENCODER_RECIPE_NAME if DEFAULT_ENCODER else CNN_RECIPE_NAME
EVALUATED_CORPORA = ("ravdess", "emodb", "tess")  # corpora with their own test speakers
DEFAULT_CACHE_DIR = Path("artifacts/cache/features")
DEFAULT_RUNS_DIR = Path("models/evaluation/compare")  # `ser-train compare`'s stored runs
CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_HYPERPARAMETERS_PATH = CONFIGS_DIR / "hyperparameters.json"  # the tuned CNN's


class TrainingFailed(RuntimeError):
    """The job cannot produce a trustworthy model (no data, failed extraction, …)."""


@dataclass(frozen=True)
class JobConfig:
    """Settings of one training job: the single source of every default, recorded in the
    report. The fields from ``feature_config`` to ``ensemble`` are the *recipe*."""

    data_dir: Path
    out_dir: Path = Path("models")
    cache_dir: Path = DEFAULT_CACHE_DIR
    report_dir: Path | None = None  # default: <out_dir>/evaluation
    # The front end's defaults (front_end_defaults): the encoder's, or the hand-crafted CNN's.
    feature_config: FeatureConfig = field(
        default_factory=lambda: front_end_defaults(DEFAULT_ENCODER)["feature_config"]
    )
    hyperparameters: ModelHyperparameters = field(
        default_factory=lambda: front_end_defaults(DEFAULT_ENCODER)["hyperparameters"]
    )
    labels: tuple[str, ...] = EMOTIONS
    corpora: tuple[str, ...] | None = None  # None: every full-label corpus found in data_dir
    # Corpora with only some emotions (datasets.PARTIAL_CORPORA) join as training speakers.
    extra_corpora: tuple[str, ...] = ()
    # Each corpus's loss covers only the labels it has (trainer.label_masks).
    mask_absent_labels: bool = False
    # Random augmented copies per training file.
    augment_copies: int = ENCODER_AUGMENT_COPIES if DEFAULT_ENCODER else CNN_AUGMENT_COPIES
    augmentation: str = "default"  # a key of augment.AUGMENTATION_POLICIES
    # "class": every emotion weighs the same; "corpus": and each corpus within an emotion;
    # "speaker": and each speaker within that (trainer.balanced_sample_weights).
    balance: str = "class"
    ensemble: int = 1  # models averaged in one graph, trained with seeds seed, seed+1, …
    # Features z-scored per speaker (windows.normalise_by_speaker); scored speakers use other
    # recordings of theirs as the reference. Needs raw features (normalization "none").
    speaker_normalization: bool = False
    epochs: int = DEFAULT_EPOCHS
    seed: int = DEFAULT_SEED
    workers: int | None = None
    model_version: str = ""
    robustness: bool = True  # also score degraded copies of the test speakers
    # The comparison's stored runs of this recipe: their held-out-corpus predictions join the
    # validation speakers in fitting the temperature (recalibration.fit_calibration); when there
    # are none, the validation speakers alone fit it.
    calibration_runs: Path | None = DEFAULT_RUNS_DIR
    calibration_recipe: str = DEFAULT_RECIPE_NAME
    # A frozen pretrained encoder under the head (Model v3): a name in ser_encoders.ENCODERS, or
    # None for the hand-crafted CNN. Its outputs are cached (features.encoder_cache); the head
    # reads the layers ``encoder_layers`` (indices into embeddings, block_1 …, final_ln), each
    # averaged over ``encoder_pool`` steps. Needs feature_config.front_end "whisper".
    encoder: str | None = DEFAULT_ENCODER
    encoder_layers: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    encoder_pool: int = 2
    # A copy of the encoder's model.bin to read instead of the installed package's (it must
    # have the pinned sha256 all the same).
    encoder_weights: Path | None = None

    def __post_init__(self) -> None:
        if self.balance not in BALANCE_MODES:
            raise ValueError(f"balance must be one of {list(BALANCE_MODES)}")
        if self.augmentation not in AUGMENTATION_POLICIES:
            raise ValueError(f"augmentation must be one of {list(AUGMENTATION_POLICIES)}")
        if self.speaker_normalization and self.feature_config.normalization != "none":
            raise ValueError("speaker normalisation needs features with normalization 'none'")
        if self.ensemble < 1 or self.epochs < 1 or self.augment_copies < 0:
            raise ValueError("ensemble and epochs must be ≥ 1, augment_copies ≥ 0")
        whisper = self.feature_config.front_end == "whisper"
        if (self.encoder is not None) != whisper:
            raise ValueError(
                "a pretrained encoder reads the 'whisper' front end, and only it does: set "
                "both --encoder and the whisper front end, or neither"
            )
        if self.encoder is not None:
            from ser_encoders.weights import ENCODERS

            if self.encoder not in ENCODERS:
                raise ValueError(f"encoder must be one of {list(ENCODERS)}, got {self.encoder!r}")
            if self.speaker_normalization:
                raise ValueError("speaker normalisation is for hand-crafted features only")

    @property
    def variants(self) -> tuple[int, ...]:
        return tuple(range(self.augment_copies + 1))

    @property
    def corpus_labels(self) -> dict[str, set[str]] | None:
        """Labels per corpus for the loss mask, or None when every label is allowed."""
        return corpus_label_sets() if self.mask_absent_labels else None

    def recipe(self) -> dict:
        """What decides the model apart from data, seed and paths; JSON-serialisable."""
        recipe = {
            "feature_config": self.feature_config.to_dict(),
            "hyperparameters": self.hyperparameters.to_dict(),
            "extra_corpora": list(self.extra_corpora),
            "mask_absent_labels": self.mask_absent_labels,
            "augment_copies": self.augment_copies,
            "augmentation": self.augmentation,
            "balance": self.balance,
            "ensemble": self.ensemble,
            "speaker_normalization": self.speaker_normalization,
            "epochs": self.epochs,
        }
        if self.encoder is not None:  # absent for hand-crafted recipes: their run keys stay
            recipe |= {"encoder": self.encoder, "encoder_layers": list(self.encoder_layers),
                       "encoder_pool": self.encoder_pool}  # fmt: skip
        return recipe

    def with_recipe(self, recipe: dict) -> JobConfig:
        """This config with a stored :meth:`recipe` (e.g. of the model being re-evaluated);
        recipes written before a field existed keep that field's default."""
        values = dict(recipe)
        if "feature_config" in values:
            values["feature_config"] = FeatureConfig.from_dict(values["feature_config"])
        if "hyperparameters" in values:
            values["hyperparameters"] = ModelHyperparameters(**values["hyperparameters"])
        if "extra_corpora" in values:
            values["extra_corpora"] = tuple(values["extra_corpora"])
        if "encoder_layers" in values:
            values["encoder_layers"] = tuple(values["encoder_layers"])
        values.setdefault("encoder", None)  # recipes stored before Model v3: hand-crafted
        return dataclasses.replace(self, **values)


def front_end_defaults(encoder: str | None, hyperparameters: Path | None = None) -> dict:
    """The JobConfig fields that follow from the front end: for an encoder (a name in
    ser_encoders.ENCODERS) its log-mel input, its head's hyperparameters, one augmented copy
    and the whisper_head runs for calibration; for None the hand-crafted CNN's.
    ``hyperparameters``: a `ser-train tune` JSON to read instead of the front end's own."""
    return {
        "encoder": encoder,
        "feature_config": FeatureConfig(front_end="whisper" if encoder else "handcrafted"),
        "hyperparameters": load_hyperparameters(hyperparameters, encoder),
        "augment_copies": ENCODER_AUGMENT_COPIES if encoder else CNN_AUGMENT_COPIES,
        "calibration_recipe": ENCODER_RECIPE_NAME if encoder else CNN_RECIPE_NAME,
    }


def hyperparameters_path(encoder: str | None) -> Path:
    """Where ``make tune`` keeps the tuned hyperparameters of the CNN or of an encoder's head."""
    return (
        DEFAULT_HYPERPARAMETERS_PATH
        if encoder is None
        else CONFIGS_DIR / f"hyperparameters_{encoder}.json"
    )


def load_hyperparameters(
    path: Path | None = None, encoder: str | None = DEFAULT_ENCODER
) -> ModelHyperparameters:
    """The tuned hyperparameters (a ``make tune`` JSON: ``path``, else the front end's own
    file), over the front end's defaults: ENCODER_HEAD on an encoder, the dataclass's for the
    hand-crafted CNN."""
    source = path or hyperparameters_path(encoder)
    values = json.loads(source.read_text()).get("hyperparameters", {}) if source.exists() else {}
    return ModelHyperparameters(**{**(ENCODER_HEAD if encoder else {}), **values})


def hyperparameters_origin(config: JobConfig) -> str:
    """Where the network's hyperparameters came from, in words for the model card: the front
    end's `make tune` file, the encoder head's untuned defaults, or this run's own settings."""
    tuned = hyperparameters_path(config.encoder)
    if tuned.exists() and config.hyperparameters == load_hyperparameters(tuned, config.encoder):
        return f"chosen by `make tune` on the validation speakers ({tuned.name})"
    if config.encoder and config.hyperparameters == ModelHyperparameters(**ENCODER_HEAD):
        return "the encoder head's, fixed before any encoder result and not tuned"
    return "set for this run"


def scan(config: JobConfig, *, held_out: Sequence[str] = ()) -> ScanResult:
    """The corpora the recipe trains on, plus the ``held_out`` corpora read to be scored only
    (:func:`trains_on` tells them apart)."""
    extra = config.extra_corpora + tuple(c for c in held_out if c not in config.extra_corpora)
    result = scan_data_dir(config.data_dir, config.corpora, extra_corpora=extra)
    if not result.utterances:
        raise TrainingFailed(f"no labelled audio found under {config.data_dir}")
    return result


def trains_on(config: JobConfig, corpus: str) -> bool:
    """Whether the recipe trains on ``corpus``: the full-label corpora (or ``config.corpora``)
    and the partial ones it names; a corpus :func:`scan` read only to hold out does not."""
    if corpus in config.extra_corpora:
        return True
    if config.corpora is not None:
        return corpus in config.corpora
    return corpus not in PARTIAL_CORPORA


def load_windows(
    utterances: Sequence[Utterance], cache: FeatureCache, config: JobConfig,
    variants: Sequence[object] = (0,), *, training: bool = False, reference: str | None = None,
) -> WindowSet:  # fmt: skip
    """Cached windows of ``utterances`` as the recipe feeds them to the model: every caller
    (fit, scoring, comparison) goes through here, so speaker normalisation cannot be missed.
    ``reference`` (windows.REFERENCES) overrides whose speech scales a speaker: by default
    their own for training, their other recordings for scoring."""
    windows = assemble(utterances, cache, config.labels, variants)
    if config.speaker_normalization:
        windows = normalise_by_speaker(
            windows, reference=reference or ("own" if training else "others")
        )
    return windows


def feature_cache(config: JobConfig) -> FeatureCache | EncoderCache:
    """Where the recipe's model inputs come from: window features, or for a recipe on a
    pretrained encoder, the encoder's cached outputs for the same windows."""
    features = FeatureCache(
        config.cache_dir, config.feature_config, AUGMENTATION_POLICIES[config.augmentation]
    )
    if config.encoder is None:
        return features
    from ser_encoders.weights import ENCODERS

    return EncoderCache(
        features, ENCODERS[config.encoder], config.encoder_layers, config.encoder_pool,
        config.encoder_weights,
    )  # fmt: skip


def serving_model(model, cache: FeatureCache | EncoderCache):
    """The model as served: for a head on encoder outputs, the encoder (and the layer
    selection and pooling the cache applied) put in front of it, in one Keras model whose
    input is the cache's log-mel windows."""
    if not isinstance(cache, EncoderCache):
        return model
    from ser_training.model.encoder_graph import encoder_serving_model

    return encoder_serving_model(
        model, cache.weights(), cache.layers, cache.pool, cache.config.n_frames
    )


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
) -> tuple[TrainingResult, WindowSet, WindowSet | None, float]:
    """Extract the split's features (augmenting its training files only), then fit on the
    training speakers with early stopping on the validation speakers; with
    ``config.ensemble`` = K, K models (seeds seed … seed+K−1) averaged in one model.

    Returns
    -------
    (training result, the training windows, the validation windows (None without validation
    speakers), seconds spent on feature extraction)
    """
    from ser_training.model.network import ensemble_model

    started = time.time()
    prepare_features(cache, split, config)
    extraction_s = time.time() - started
    train = load_windows(split.train, cache, config, config.variants, training=True)
    validation = load_windows(split.validation, cache, config) if split.validation else None
    members = [
        fit(train, validation, config.labels, config.hyperparameters, epochs=config.epochs,
            seed=config.seed + k, verbose=verbose, balance=config.balance,
            corpus_labels=config.corpus_labels)
        for k in range(config.ensemble)
    ]  # fmt: skip
    if len(members) == 1:
        return members[0], train, validation, extraction_s
    model = ensemble_model([m.model for m in members])
    result = TrainingResult(
        model=model,
        history=members[0].history,
        best_epoch=members[0].best_epoch,
        validation=score(model, validation, config.labels) if validation is not None else {},
    )
    return result, train, validation, extraction_s


def evaluate_by_corpus(
    model, utterances: Sequence[Utterance], cache: FeatureCache, config: JobConfig,
    variant: object = 0,
) -> dict[str, dict]:  # fmt: skip
    """Utterance-level metrics per corpus (and 'all') for a set of test utterances."""
    labels = config.labels
    results: dict[str, dict] = {}
    groups = {
        c: [u for u in utterances if u.corpus == c] for c in sorted({u.corpus for u in utterances})
    }
    if len(groups) > 1:
        groups["all"] = list(utterances)
    for name, group in groups.items():
        windows = load_windows(group, cache, config, (variant,))
        results[name] = score(model, windows, labels)
        # Files with no voiced window cannot be scored (the API answers 422 for them): say so.
        results[name]["n_files"] = sum(u.label in labels for u in group)
    return results


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


@dataclass
class TrainingRun:
    """What :func:`run_training_job` produced: the fitted model and everything measured."""

    config: JobConfig
    split: Split
    cache: FeatureCache
    result: TrainingResult
    summary: dict  # the public record: report, model card and metadata are rendered from it
    onnx_path: Path | None = None

    @property
    def model(self):  # keras.Model
        return self.result.model


def run_training_job(config: JobConfig, *, export: bool = True, verbose: int = 2) -> TrainingRun:
    """The whole `make train`: split by speaker, fit, score the held-out speakers (and their
    degraded copies), export ONNX with the parity gate, write report, model card and sidecar.

    Raises
    ------
    TrainingFailed
        No data, failed feature extraction, or an export that does not reproduce the model.
    """
    from ser_training.model.export import ParityError, export_model

    if export and config.hyperparameters.architecture == "linear_probe":
        raise TrainingFailed("a linear probe is a comparison row (ser-train compare), not a model")
    started = time.time()
    found = scan(config)
    split = split_by_speaker(found.utterances)
    cache = feature_cache(config)
    result, train, validation, extraction_s = fit_split(split, cache, config, verbose=verbose)
    family = "ser-cnn" if config.encoder is None else f"ser-{config.encoder.split('.')[0]}"
    version = config.model_version or dt.datetime.now(dt.UTC).strftime(f"{family}-%Y%m%d-%H%M")
    corpora_used = {u.corpus for u in found.utterances}
    summary = {
        "model_version": version,
        "protocol": protocol_text(split, config),
        "test": evaluate_by_corpus(result.model, split.test, cache, config),
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
        "recipe": config.recipe(),
        "skipped": [f"{p.name}: {reason}" for p, reason in found.skipped],
        "hyperparameters": config.hyperparameters.to_dict(),
        "hyperparameters_origin": hyperparameters_origin(config),
        "feature_config": config.feature_config.to_dict(),
        "labels": list(config.labels),
        "label_map": {c: m for c, m in DEFAULT_LABEL_MAP.items() if c in corpora_used},
        "seed": config.seed,
        "timing_s": {"features": round(extraction_s, 1), "total": None},
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }
    if config.robustness and split.test:
        summary["robustness"] = robustness(result.model, split, cache, config)
    if validation is not None:
        from ser_training.calibration.affect_heads import learned_arousal_wins
        from ser_training.calibration.fit import calibration_section
        from ser_training.calibration.shifted import shifted_set

        runs, recipe, labels = config.calibration_runs, config.calibration_recipe, config.labels
        summary["calibration"] = calibration_section(
            lambda windows: predict_windows(result.model, windows.features),
            validation, split.test, cache, labels, config.out_dir / "evaluation",
            shifted_set(runs, recipe, len(labels)), learned_arousal_wins(runs, recipe, labels),
        )  # fmt: skip
    run = TrainingRun(config, split, cache, result, summary)
    if not export:
        return run
    summary["timing_s"]["total"] = round(time.time() - started, 1)
    # The served model's own input: log-mel windows when the encoder goes into the graph.
    inputs = cache.features if isinstance(cache, EncoderCache) else cache
    parity_batch = assemble((split.test or split.train)[:64], inputs, config.labels).features[:64]
    try:
        onnx_path, difference = export_model(
            serving_model(result.model, cache), make_metadata(summary), parity_batch,
            config.out_dir,
            temperature=summary.get("calibration", {}).get("calibration", {}).get("temperature"),
        )  # fmt: skip
    except ParityError as error:
        raise TrainingFailed(str(error)) from error
    summary["export"] = {
        "onnx": str(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "keras_onnx_max_abs_diff": difference,
    }
    write_reports(summary, config.out_dir)
    run.onnx_path = onnx_path
    return run


def license_note(summary: dict) -> str:
    """The licence line, naming the extra corpora and the pretrained encoder a model has."""
    recipe = summary.get("recipe", {})
    extra = recipe.get("extra_corpora", [])
    note = LICENSE_NOTE
    if extra:
        names = ", ".join(EXTRA_LICENSE_NOTE.get(c, c) for c in extra)
        note = note.replace(" and EMO-DB (research use)", f", EMO-DB (research use) and {names}")
    if recipe.get("encoder"):
        note += (
            f" Its pretrained encoder ({recipe['encoder']}) is OpenAI Whisper's, released under "
            "the MIT licence (notice: packages/ser_encoders/src/ser_encoders/WHISPER_LICENSE); "
            "the trained model as a whole still inherits the corpora's non-commercial terms."
        )
    return note


def write_reports(summary: dict, out_dir: Path) -> None:
    """summary.json, report.md with its figures, and MODEL_CARD.md, all from one summary."""
    from ser_training.evaluation.model_card import write_model_card
    from ser_training.evaluation.report import write_report

    report_dir = out_dir / "evaluation"
    write_json(report_dir / "summary.json", summary)
    write_report(summary, report_dir)
    from ser_training.adaptation.report import adaptation_lines, stored_adaptation, trust_lines

    adaptation = stored_adaptation(out_dir)  # `ser-train adapt`'s own section, when adapted
    write_model_card(
        summary, out_dir / "MODEL_CARD.md", license_note(summary),
        [*(adaptation_lines(adaptation) if adaptation else ()),
         *trust_lines(out_dir, summary["model_version"])],
    )  # fmt: skip


def sync_model_metadata(out_dir: Path, summary: dict) -> None:
    """Rewrite the ONNX metadata and JSON sidecar from the summary, so the model, the report
    and the card always carry the same figures."""
    import onnx

    from ser_training.model.export import write_metadata

    model_path = out_dir / "ser_model.onnx"
    if not model_path.exists():
        return
    proto = onnx.load(str(model_path))
    current = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    # The speaker-adapted head (ser-train adapt) is not in the training summary: keep it.
    metadata = dataclasses.replace(make_metadata(summary), adaptation=current.adaptation)
    write_metadata(proto, metadata, model_path)


def stored_summary(out_dir: Path) -> dict:
    """The summary of the model in ``out_dir``; TrainingFailed if it was never trained."""
    path = out_dir / "evaluation" / "summary.json"
    if not path.exists():
        raise TrainingFailed(f"{path} not found: run `ser-train train` first")
    return json.loads(path.read_text())


def run_evaluation(
    config: JobConfig, held_out: Sequence[str], *, reverse_tess: bool = True
) -> dict:
    """`make evaluate`: leave-one-corpus-out (and TESS reverse) runs of the recipe that trained
    ``config.out_dir``'s model, merged into that model's summary, report, card and metadata."""
    summary = stored_summary(config.out_dir)
    summary["leave_one_corpus_out"] = leave_one_corpus_out(config, held_out)
    if reverse_tess:
        summary["tess_reverse"] = tess_reverse(config)
    write_reports(summary, config.out_dir)
    sync_model_metadata(config.out_dir, summary)
    return summary


def make_metadata(summary: dict) -> ModelMetadata:
    """What the exported model says about itself, all of it from the summary."""
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
        "recipe": recipe_of(summary),
        "corpora": sorted(summary["split"]["train"]),
        "train_speakers": summary["split"]["train"],
        "counts": summary["counts"],
        "label_map": summary["label_map"],
    }
    if "refit" in summary:  # the weights' own speakers; train_speakers stays the protocol's
        training_data["refit"] = {
            k: summary["refit"][k] for k in ("speakers", "n_speakers", "files", "epochs", "seed")
        } | {"protocol_model_version": summary["protocol_model_version"]}
    calibration = summary.get("calibration", {}).get("calibration", {})
    if calibration:
        test_all = summary["calibration"]["test"]["all"]
        metrics["calibration"] = {
            "test_speakers": {
                "ece_uncalibrated": test_all["uncalibrated"]["ece"],
                "ece_calibrated": test_all["calibrated"]["ece"],
                "at_threshold": test_all["at_threshold"],
                "arousal_accuracy": test_all["arousal_accuracy"],
                "valence_sign_accuracy": test_all["valence_sign_accuracy"],
            }
        }
    return ModelMetadata(
        labels=tuple(summary["labels"]),
        feature_config=FeatureConfig.from_dict(summary["feature_config"]),
        model_version=summary["model_version"],
        metrics=metrics,
        training_data=training_data,
        license=license_note(summary),
        calibration=calibration,
        encoder=encoder_metadata(recipe_of(summary)),
    )


def encoder_metadata(recipe: dict) -> EncoderMetadata | None:
    """The encoder section of a recipe's model (its graph hash is added at export), or None
    for a hand-crafted model."""
    if not recipe.get("encoder"):
        return None
    from ser_encoders.weights import ENCODERS
    from ser_encoders.whisper import layer_names

    spec = ENCODERS[recipe["encoder"]]
    names = layer_names(spec.n_layers)
    return EncoderMetadata.from_spec(
        spec.as_dict(), tuple(names[i] for i in recipe["encoder_layers"]), recipe["encoder_pool"]
    )


@dataclass
class HeldOutCorpusRun:
    """One fold of leave-one-corpus-out: trained without ``held_out``, scored on all of it."""

    held_out: str
    result: TrainingResult
    test: WindowSet  # every scorable file of the held-out corpus
    probabilities: np.ndarray  # shape (n_utterances, n_labels): utterance probabilities of test
    scores: dict  # restricted metrics, by_speakers, unrestricted figures (see below)
    # The fold's own validation speakers (from the training corpora), for calibration.
    validation_probabilities: np.ndarray  # shape (n_validation_utterances, n_labels)
    validation_truth: np.ndarray  # shape (n_validation_utterances,), label index


def held_out_corpus_run(
    config: JobConfig, utterances: Sequence[Utterance], held_out: str, cache: FeatureCache,
    *, verbose: int = 0,
) -> HeldOutCorpusRun:  # fmt: skip
    """Train on every corpus but ``held_out``, test on every speaker of it.

    The held-out corpus is scored over the labels it contains (choosing only among those),
    and also without that restriction ('unrestricted_accuracy').
    """
    pool = [u for u in utterances if u.corpus == held_out or trains_on(config, u.corpus)]
    split = split_leave_one_corpus_out(pool, held_out)
    trained, _, validation, _ = fit_split(split, cache, config, verbose=verbose)
    test = load_windows(split.test, cache, config)
    # Predict once; every figure below is a view of the same utterance probabilities.
    probabilities = predict_utterances(trained.model, test)
    truth = test.utterance_labels
    scores = score_probabilities(probabilities, truth, config.labels, restrict_to_present=True)
    unrestricted = score_probabilities(probabilities, truth, config.labels)
    scores["by_speakers"] = speaker_group_scores(
        test.utterances, probabilities, truth, config.labels
    )
    scores["unrestricted_accuracy"] = unrestricted["accuracy"]
    scores["unrestricted_prediction_distribution"] = unrestricted["prediction_distribution"]
    scores["trained_on"] = sorted({u.corpus for u in split.train})
    scores["n_files"] = sum(u.label in config.labels for u in split.test)
    scores["best_epoch"] = trained.best_epoch
    return HeldOutCorpusRun(
        held_out, trained, test, probabilities, scores,
        predict_utterances(trained.model, validation), validation.utterance_labels,
    )  # fmt: skip


def leave_one_corpus_out(
    config: JobConfig, corpora: Sequence[str], *, verbose: int = 0
) -> dict[str, dict]:
    """:func:`held_out_corpus_run` for each corpus in turn → corpus → its scores."""
    utterances = scan(config, held_out=corpora).utterances
    cache = feature_cache(config)
    return {
        held_out: held_out_corpus_run(config, utterances, held_out, cache, verbose=verbose).scores
        for held_out in corpora
    }


def tess_reverse(config: JobConfig, *, verbose: int = 0) -> dict:
    """TESS's other direction: the main split tests on OAF; this trains with OAF and tests YAF."""
    swapped = {**TEST_SPEAKERS, "tess": frozenset({"YAF"})}
    split = split_by_speaker(scan(config).utterances, swapped, VALIDATION_SPEAKERS)
    cache = feature_cache(config)
    trained, _, _, _ = fit_split(split, cache, config, verbose=verbose)
    tess_test = [u for u in split.test if u.corpus == "tess"]
    return score(trained.model, load_windows(tess_test, cache, config), config.labels)


def robustness(model, split: Split, cache: FeatureCache, config: JobConfig) -> dict[str, dict]:
    """Accuracy on degraded copies of the RAVDESS and EMO-DB test speakers' files."""
    test = [u for u in split.test if u.corpus in ("ravdess", "emodb")]
    conditions = list(ROBUSTNESS_CONDITIONS)
    failures = cache.ensure([(u.path, c) for u in test for c in conditions], config.workers)
    if failures:
        raise TrainingFailed(f"robustness feature extraction failed: {failures[:5]}")
    table = {"clean": evaluate_by_corpus(model, test, cache, config)}
    for condition in conditions:
        table[condition] = evaluate_by_corpus(model, test, cache, config, variant=condition)
    return table


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in data.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, sort_keys=True, default=str) + "\n")
