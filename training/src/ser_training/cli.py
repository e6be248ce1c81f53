"""`ser-train`: train, evaluate across corpora, compare recipes and tune the SER CNN.

Only option parsing and printing live here; every command hands a
:class:`~ser_training.job.JobConfig` to the pipeline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ser_features import FeatureConfigError
from ser_training.data.corpora import find_corpora
from ser_training.data.splits import HELD_OUT_CORPORA

if TYPE_CHECKING:  # the pipeline imports TensorFlow-heavy modules: only when a command runs
    from ser_training.job import JobConfig

app = typer.Typer(help="Train, evaluate and tune the speech emotion CNN.", no_args_is_help=True)

QUICK_HYPERPARAMETERS = {"filters": 16, "blocks": 2, "dense_units": 32, "batch_size": 32}
QUICK_EPOCHS = 3

DataOption = Annotated[
    Path,
    typer.Option(
        "--data",
        help="folder with corpus sub-folders (ravdess/, tess/, emodb/, crema-d/, savee/, turev/, urdu/, nemo/)",
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out", help="where ser_model.onnx, ser_model.json, MODEL_CARD.md and evaluation/ go"
    ),
]
CacheOption = Annotated[Path, typer.Option("--cache", help="feature cache folder")]
EpochsOption = Annotated[
    int | None, typer.Option(help="maximum epochs (early stopping on validation speakers)")
]
AugmentOption = Annotated[
    int | None, typer.Option(help="random augmented copies per training file")
]
HyperparametersOption = Annotated[
    Path | None,
    typer.Option(
        help="JSON from `ser-train tune` (default: training/configs/hyperparameters.json)"
    ),
]
QuickOption = Annotated[
    bool, typer.Option(help="tiny network, 3 epochs, no augmentation: a smoke run")
]
SeedOption = Annotated[int | None, typer.Option(help="random seed (ensemble member k: seed + k)")]
WorkersOption = Annotated[
    int | None, typer.Option(help="feature extraction processes (default: all cores)")
]
PadModeOption = Annotated[
    str | None,
    typer.Option(
        "--pad-mode", help="fill a voiced part shorter than a window with 'zero' or 'repeat' (loop)"
    ),
]
NormalizationOption = Annotated[
    str | None,
    typer.Option(
        "--normalization",
        help="per-window feature scaling: 'speech' (statistics over the audio frames only), "
        "'window' (all frames, padding included) or 'none'",
    ),
]
FftOption = Annotated[
    str | None,
    typer.Option(
        "--fft",
        help="spectrum FFT: 'numpy' (feature versions ≤ 3) or 'scipy' (halves feature time; "
        "other numbers, so models trained with one are served with the same)",
    ),
]
BalanceOption = Annotated[
    str | None,
    typer.Option(
        "--balance",
        help="example weights: 'class' (each emotion equal), 'corpus' (and each corpus within "
        "an emotion), 'speaker' (and each speaker within a corpus)",
    ),
]
ExtraCorporaOption = Annotated[
    str | None,
    typer.Option(
        "--extra-corpora",
        help="comma-separated partial-label corpora to add as training speakers (turev,urdu,nemo)",
    ),
]
MaskOption = Annotated[
    bool | None,
    typer.Option(
        "--mask-absent-labels/--no-mask-absent-labels",
        help="each corpus's loss covers only the emotions it has",
    ),
]
AugmentationOption = Annotated[
    str | None, typer.Option("--augmentation", help="augmentation policy: 'default' or 'channel'")
]
ArchitectureOption = Annotated[
    str | None, typer.Option("--architecture", help="front end: 'conv1d' or 'conv2d'")
]
PoolingOption = Annotated[
    str | None, typer.Option("--pooling", help="pooling over time: 'meanmax' or 'stats'")
]
PitchOption = Annotated[
    bool | None, typer.Option("--pitch/--no-pitch", help="add the pitch (F0) feature group")
]
EnsembleOption = Annotated[int | None, typer.Option(help="models averaged in the exported graph")]
SpeakerNormOption = Annotated[
    bool | None,
    typer.Option(
        "--speaker-normalization/--no-speaker-normalization",
        help="z-score features per speaker (needs --normalization none)",
    ),
]
EncoderOption = Annotated[
    str | None,
    typer.Option(
        "--encoder",
        help="pretrained encoder under the head (Model v3): 'whisper-tiny.en', or 'none' for "
        "the hand-crafted features (the whisper log-mel front end comes with it)",
    ),
]
EncoderLayersOption = Annotated[
    str | None,
    typer.Option(
        "--encoder-layers",
        help="comma-separated encoder outputs the head reads: 0 embeddings, 1..n blocks, "
        "n+1 final LayerNorm (default: all)",
    ),
]

CalibrationRunsOption = Annotated[
    Path | None,
    typer.Option(
        "--calibration-runs",
        help="`compare` runs whose held-out-corpus predictions join the validation speakers in "
        "fitting the temperature (default models/evaluation/compare)",
    ),
]
CalibrationRecipeOption = Annotated[
    str | None,
    typer.Option("--calibration-recipe", help="the recipe of those runs (default baseline)"),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


def build_config(
    data: Path, out: Path = Path("models"), cache: Path | None = None, *,
    recipe: dict | None = None, hyperparameters: Path | None = None, quick: bool = False,
    **options,
) -> JobConfig:  # fmt: skip
    """A JobConfig from CLI options: defaults from JobConfig, then a stored ``recipe`` (if
    given), then every option the user set (None = not set), then ``--quick``.

    Raises typer.Exit(2) for an option value the pipeline refuses, before any work.
    """
    from ser_training import job
    from ser_training.model.network import ModelHyperparameters

    # The front end decides the default features, hyperparameters, copies and calibration
    # runs: the encoder's head (the default, or --encoder NAME), or the tuned hand-crafted CNN
    # (--encoder none).
    chosen = options.get("encoder")
    if chosen is not None:
        encoder = None if chosen == "none" else chosen
    else:
        encoder = recipe.get("encoder") if recipe is not None else job.DEFAULT_ENCODER
    try:
        defaults = job.front_end_defaults(encoder, hyperparameters)
        config = job.JobConfig(data_dir=data, out_dir=out, **defaults)
    except (FeatureConfigError, ValueError) as error:
        raise fail(f"bad option: {error}", 2) from error
    if cache is not None:
        config = dataclasses.replace(config, cache_dir=cache)
    try:
        if recipe is not None:
            config = config.with_recipe(recipe)
        features = {k: options.pop(k) for k in ("pad_mode", "normalization", "fft") if k in options}
        features = {k: v for k, v in features.items() if v is not None}
        pitch = options.pop("pitch", None)
        if pitch is not None:
            groups = [g for g in config.feature_config.groups if g != "pitch"]
            features["groups"] = (*groups, "pitch") if pitch else tuple(groups)
        network = {k: options.pop(k) for k in ("architecture", "pooling") if k in options}
        network = {k: v for k, v in network.items() if v is not None}
        if quick:
            network.update(QUICK_HYPERPARAMETERS)
            options.update(epochs=QUICK_EPOCHS, augment_copies=0)
        options.pop("encoder", None)  # already in the front end's defaults above
        layers = options.pop("encoder_layers", None)
        if layers is not None:
            options["encoder_layers"] = tuple(int(x) for x in layers.split(",") if x.strip())
        extra = options.pop("extra_corpora", None)
        if extra is not None:
            options["extra_corpora"] = tuple(c.strip() for c in extra.split(",") if c.strip())
        return dataclasses.replace(
            config,
            feature_config=dataclasses.replace(config.feature_config, **features),
            hyperparameters=ModelHyperparameters(**(config.hyperparameters.to_dict() | network)),
            **{k: v for k, v in options.items() if v is not None},
        )
    except (FeatureConfigError, ValueError) as error:
        raise fail(f"bad option: {error}", 2) from error


HeldOutOption = Annotated[
    str | None,
    typer.Option(
        help="comma-separated corpora to hold out in turn (default: each of "
        f"{','.join(HELD_OUT_CORPORA)} found under --data)"
    ),
]


def held_out_corpora(option: str | None, data: Path) -> list[str]:
    """The corpora to hold out: those named, or every default one that ``data`` holds."""
    if option is not None:
        return [c.strip() for c in option.split(",") if c.strip()]
    try:
        found = find_corpora(data)
    except FileNotFoundError as error:
        raise fail(str(error)) from error
    return [c for c in HELD_OUT_CORPORA if c in found]


@app.command()
def train(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    cache: CacheOption = None,
    epochs: EpochsOption = None,
    augment: AugmentOption = None,
    hyperparameters: HyperparametersOption = None,
    robustness: bool = typer.Option(True, help="also score degraded copies of the test speakers"),
    quick: QuickOption = False,
    seed: SeedOption = None,
    workers: WorkersOption = None,
    pad_mode: PadModeOption = None,
    normalization: NormalizationOption = None,
    fft: FftOption = None,
    balance: BalanceOption = None,
    extra_corpora: ExtraCorporaOption = None,
    mask_absent_labels: MaskOption = None,
    augmentation: AugmentationOption = None,
    architecture: ArchitectureOption = None,
    pooling: PoolingOption = None,
    pitch: PitchOption = None,
    ensemble: EnsembleOption = None,
    speaker_normalization: SpeakerNormOption = None,
    calibration_runs: CalibrationRunsOption = None,
    calibration_recipe: CalibrationRecipeOption = None,
    encoder: EncoderOption = None,
    encoder_layers: EncoderLayersOption = None,
) -> None:
    """Train on held-in speakers, evaluate on held-out speakers, export ONNX with parity check."""
    config = build_config(
        data, out, cache, hyperparameters=hyperparameters, quick=quick, epochs=epochs,
        augment_copies=augment, seed=seed, workers=workers, robustness=robustness,
        pad_mode=pad_mode, normalization=normalization, fft=fft, balance=balance,
        extra_corpora=extra_corpora, mask_absent_labels=mask_absent_labels,
        augmentation=augmentation, architecture=architecture, pooling=pooling, pitch=pitch,
        ensemble=ensemble, speaker_normalization=speaker_normalization,
        calibration_runs=calibration_runs, calibration_recipe=calibration_recipe,
        encoder=encoder, encoder_layers=encoder_layers,
    )  # fmt: skip
    from ser_training import job

    try:
        run = job.run_training_job(config)
    except (job.TrainingFailed, FileNotFoundError) as error:
        raise fail(f"training failed: {error}") from error
    for corpus, m in run.summary["test"].items():
        typer.echo(
            f"held-out speakers, {corpus}: accuracy {m['accuracy']:.3f}, UAR {m['uar']:.3f} (n={m['n']})"
        )
    export = run.summary["export"]
    typer.echo(f"exported {run.onnx_path} ({export['bytes'] / 1e6:.2f} MB, Keras/ONNX max diff "
               f"{export['keras_onnx_max_abs_diff']:.1e}) in {run.summary['timing_s']['total']:.0f} s; "
               f"report: {out / 'evaluation' / 'report.md'}")  # fmt: skip


@app.command()
def refit(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    cache: CacheOption = None,
    workers: WorkersOption = None,
    epochs: Annotated[
        int | None,
        typer.Option(help="epochs (default: the protocol run's best epoch, as shipped)"),
    ] = None,
    encoder_weights: Annotated[
        Path | None,
        typer.Option(help="a copy of the encoder's model.bin (default: the pinned package's)"),
    ] = None,
) -> None:
    """Refit <out>'s trained model on every speaker of its corpora (test and validation
    speakers included) with its recipe, seed and best epoch count; keep its calibration,
    figures and speaker/domain head. Run after `train` (and `calibrate`, `adapt`)."""
    from ser_training import job
    from ser_training.full_refit import run_refit
    from ser_training.model.adaptation_graph import AdaptationGraphError

    config = job.JobConfig(data_dir=data, out_dir=out)
    config = dataclasses.replace(
        config, cache_dir=cache or config.cache_dir, workers=workers,
        encoder_weights=encoder_weights,
    )  # fmt: skip
    if epochs is not None and epochs < 1:
        raise fail("--epochs must be at least 1", 2)
    try:
        summary = run_refit(config, epochs=epochs)
    except (job.TrainingFailed, FileNotFoundError, AdaptationGraphError) as error:
        raise fail(f"refit failed: {error}") from error
    refit = summary["refit"]
    typer.echo(
        f"refitted {summary['model_version']} on {refit['n_speakers']} speakers "
        f"({refit['files']} files, {refit['epochs']} epochs) in {refit['seconds']:.0f} s; "
        f"reported figures stay {summary['protocol_model_version']}'s; wrote "
        f"{out / 'ser_model.onnx'} and {out / 'MODEL_CARD.md'}"
    )


@app.command()
def evaluate(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    cache: CacheOption = None,
    hyperparameters: HyperparametersOption = None,
    corpora: HeldOutOption = None,
    tess_reverse: bool = typer.Option(True, help="also train with TESS OAF and test on YAF"),
    quick: QuickOption = False,
    seed: SeedOption = None,
    workers: WorkersOption = None,
) -> None:
    """Leave-one-corpus-out (and TESS reverse) runs of the recipe that trained <out>'s model
    (its stored recipe: features, weighting, corpora, hyperparameters); merged into that
    model's report, card and metadata."""
    from ser_training import job
    from ser_training.evaluation.report import recipe_of

    try:
        recipe = recipe_of(job.stored_summary(out))
    except job.TrainingFailed as error:
        raise fail(str(error)) from error
    if hyperparameters is not None:
        recipe = {k: v for k, v in recipe.items() if k != "hyperparameters"}
    config = build_config(data, out, cache, recipe=recipe, hyperparameters=hyperparameters,
                          quick=quick, seed=seed, workers=workers)  # fmt: skip
    held_out = held_out_corpora(corpora, data)
    try:
        summary = job.run_evaluation(config, held_out, reverse_tess=tess_reverse)
    except (job.TrainingFailed, FileNotFoundError) as error:
        raise fail(f"evaluation failed: {error}") from error
    for corpus, m in summary["leave_one_corpus_out"].items():
        typer.echo(
            f"held-out corpus {corpus}: accuracy {m['accuracy']:.3f}, UAR {m['uar']:.3f}, predictions {m['prediction_distribution']}"
        )
    if tess_reverse:
        typer.echo(
            f"TESS trained with OAF, tested on YAF: accuracy {summary['tess_reverse']['accuracy']:.3f}"
        )


@app.command()
def score(
    corpus: str = typer.Argument(help="corpus to score, e.g. nemo (a sub-folder of --data)"),
    model: Path = typer.Option(Path("models/ser_model.onnx"), help="exported ONNX model"),
    data: DataOption = Path("../shared/datasets"),
    out: Path | None = typer.Option(None, help="also write the scores here as JSON"),
    record: bool = typer.Option(
        False,
        help="also record them in the model's summary, report and card (the folder "
        "holding --model must be a trained model's, with evaluation/summary.json)",
    ),
) -> None:
    """Score an exported model on every speaker of a corpus, through the served classifier
    (choosing among the labels the corpus has). For a corpus the model never trained on this
    is that model's held-out-corpus figure."""
    import json

    from ser_inference.classifier import ModelLoadError
    from ser_training.data.corpora import scan_data_dir
    from ser_training.evaluation.exported import score_exported_model

    try:
        utterances = scan_data_dir(data, [corpus]).utterances
        scores = score_exported_model(model, utterances)
    except (FileNotFoundError, ModelLoadError, ValueError) as error:
        raise fail(f"scoring failed: {error}") from error
    groups = ", ".join(
        f"{name.replace('_', ' ')} {g['accuracy']:.3f} (n {g['n']})"
        for name, g in scores["by_speakers"].items()
    )
    typer.echo(
        f"{scores['model_version']} on {corpus} ({', '.join(scores['labels_present'])}): "
        f"accuracy {scores['accuracy']:.3f}, UAR {scores['uar']:.3f}, n {scores['n']} of "
        f"{scores['n_files']} files ({len(scores['unscorable'])} unscorable); {groups}; "
        f"predictions {scores['prediction_distribution']}"
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n")
    if record:
        from ser_training import job

        try:
            summary = job.stored_summary(model.parent)
        except job.TrainingFailed as error:
            raise fail(str(error)) from error
        if summary["model_version"] != scores["model_version"]:
            raise fail(f"{model} is {scores['model_version']}, its summary describes "
                       f"{summary['model_version']}: not recorded")  # fmt: skip
        if corpus in summary["split"]["train"]:
            raise fail(f"{summary['model_version']} trained on {corpus}: not a held-out figure")
        summary.setdefault("exported_model_scores", {})[corpus] = scores
        job.write_reports(summary, model.parent)
        typer.echo(f"recorded in {model.parent / 'evaluation' / 'summary.json'} and the model card")


@app.command()
def report(out: OutOption = Path("models")) -> None:
    """Re-render the report and model card from <out>/evaluation/summary.json (no training)."""
    from ser_training import job

    try:
        summary = job.stored_summary(out)
    except job.TrainingFailed as error:
        raise fail(str(error)) from error
    job.write_reports(summary, out)
    job.sync_model_metadata(out, summary)
    typer.echo(
        f"wrote {out / 'evaluation' / 'report.md'}, {out / 'MODEL_CARD.md'} and the model metadata"
    )


@app.command()
def calibrate(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    cache: CacheOption = None,
    workers: WorkersOption = None,
    calibration_runs: CalibrationRunsOption = None,
    calibration_recipe: CalibrationRecipeOption = None,
) -> None:
    """Calibrate <out>'s exported model (temperature in the graph, "not sure" threshold and
    arousal/valence mapping in the metadata) on its validation speakers and the comparison's
    held-out-corpus predictions, which also measure it on unseen corpora; no retraining."""
    from ser_training import job
    from ser_training.calibration.refit import calibrate_exported

    defaults = job.JobConfig(data_dir=data)
    try:
        section = calibrate_exported(
            out, data, cache or defaults.cache_dir, workers,
            runs_dir=calibration_runs or defaults.calibration_runs,
            recipe=calibration_recipe or defaults.calibration_recipe,
        )  # fmt: skip
    except (job.TrainingFailed, FileNotFoundError) as error:
        raise fail(f"calibration failed: {error}") from error
    calibration, test = section["calibration"], section["test"]["all"]
    kept = test["at_threshold"]
    # No answer may reach the threshold (a strict one on a small test set): say so, not crash.
    kept_accuracy = "–" if kept["accuracy"] is None else f"{kept['accuracy']:.1%}"
    typer.echo(
        f"temperature {calibration['temperature']:.3f}, 'not sure' below "
        f"{calibration['uncertain_below']:.3f}; test speakers ECE "
        f"{test['uncalibrated']['ece']:.3f} → {test['calibrated']['ece']:.3f}, Brier "
        f"{test['uncalibrated']['brier']:.3f} → {test['calibrated']['brier']:.3f}; answers kept "
        f"{kept['coverage']:.1%} at accuracy {kept_accuracy}"
    )


@app.command()
def adapt(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    model: Annotated[
        Path | None,
        typer.Option(help="the Model v3 graph to extend (default: <out>/ser_model.onnx)"),
    ] = None,
    work: Annotated[Path, typer.Option(help="embeddings cache folder")] = Path(
        "artifacts/adaptation"
    ),
    seeds: Annotated[int, typer.Option(help="seeds of the protocol (0 … n − 1)")] = 3,
    threads: Annotated[int, typer.Option(help="clips embedded at once")] = 2,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="instead of fitting the shipped head, run the protocol for these recipes "
            "(comma-separated, or 'all') into <out>/evaluation/adaptation_compare.json",
        ),
    ] = None,
) -> None:
    """Fit the normalised head (speaker and domain profiles, issues 24 and 30): measure it with
    speakers and corpora held out, refit it on every speaker of its corpora and write it into
    <out>/ser_model.onnx (one graph) with <out>/evaluation/adaptation.json; re-running replaces
    an earlier head."""
    from ser_features.model_metadata import ModelMetadataError
    from ser_training.adaptation.job import RECIPES, AdaptConfig, run_adaptation
    from ser_training.adaptation.job import compare as compare_recipes
    from ser_training.model.adaptation_graph import AdaptationGraphError

    if seeds < 1:
        raise fail("--seeds must be at least 1")
    config = AdaptConfig(
        model=model or out / "ser_model.onnx", data_dir=data, out=out, work=work,
        seeds=tuple(range(seeds)), threads=threads,
    )  # fmt: skip
    recipes = None
    if compare is not None:
        recipes = list(RECIPES) if compare == "all" else [r.strip() for r in compare.split(",")]
        unknown = [r for r in recipes if r not in RECIPES]
        if unknown or not recipes:
            raise fail(f"--compare: unknown recipe(s) {unknown}; one of {', '.join(RECIPES)}", 2)
    try:
        if recipes is not None:
            result = compare_recipes(config, recipes, progress=typer.echo)
            for name, row in result["recipes"].items():
                cells = ", ".join(
                    f"{c} {m:.1f} ± {sd:.1f}" for c, (m, sd) in row["held_out_mean"].items()
                )
                typer.echo(f"{name}: held-out corpora mean {cells}")
            typer.echo(f"wrote {out / 'evaluation' / 'adaptation_compare.json'}")
            return
        summary = run_adaptation(config, progress=typer.echo)
    except (FileNotFoundError, ValueError, ModelMetadataError, AdaptationGraphError) as error:
        raise fail(f"adaptation failed: {error}") from error
    for key, row in summary["domain_table"].items():
        cells = ", ".join(
            f"{column} {row[column]['mean']:.1f}"
            for column in ("domain:random_100", "domain:neutral_60_100", "speaker", "both")
            if column in row
        )
        typer.echo(f"{key}: plain {row['plain']['mean']:.1f}; {cells}")
    typer.echo(f"wrote {out / 'ser_model.onnx'} and {out / 'evaluation' / 'adaptation.json'}")


@app.command()
def trust(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    protocol_model: Annotated[
        Path | None,
        typer.Option(
            help="the model `ser-train train` wrote, before `ser-train refit` (its plain head "
            "never heard the speakers scored here); default: <out>/ser_model.onnx itself"
        ),
    ] = None,
    work: Annotated[Path, typer.Option(help="embeddings cache folder")] = Path(
        "artifacts/adaptation"
    ),
    threads: Annotated[int, typer.Option(help="clips embedded at once")] = 2,
) -> None:
    """How far each head's answers can be trusted (issue 34): per held-out corpus, the adapted
    heads' calibration error, sure share and sure accuracy beside the plain head's; and
    15-clip one-mood enrolments against the usable rule with and without its answer-entropy
    limit. Writes <out>/evaluation/trust.json and trust.md, and the limit into
    <out>/ser_model.onnx (a refit too: pass --protocol-model)."""
    from ser_features.model_metadata import ModelMetadataError
    from ser_training.adaptation.trust import TrustConfig, run_trust

    config = TrustConfig(
        model=out / "ser_model.onnx", protocol_model=protocol_model, data_dir=data, work=work,
        threads=threads,
    )  # fmt: skip
    try:
        summary = run_trust(config, progress=typer.echo)
    except (FileNotFoundError, ValueError, ModelMetadataError) as error:
        raise fail(f"trust failed: {error}") from error
    for corpus, heads in sorted(summary["calibration"].items()):
        cells = "; ".join(
            f"{head} ECE {f['other corpora']['ece']:.3f}, sure {f['other corpora']['sure_share']:.0%}"
            for head, f in heads.items()
        )
        typer.echo(f"{corpus}: {cells}")


@app.command("affect-heads")
def affect_heads(
    calibration_runs: CalibrationRunsOption = None,
    calibration_recipe: CalibrationRecipeOption = None,
    out: Path = typer.Option(
        Path("models/evaluation/affect_heads.md"), help="where the table is written"
    ),
) -> None:
    """Arousal/valence derived from the class probabilities vs a learned head, measured on the
    comparison's held-out-corpus folds (see ser_training.calibration.affect_heads)."""
    from ser_features import EMOTIONS
    from ser_training import job
    from ser_training.calibration.affect_heads import affect_heads_table, compare_affect_heads

    defaults = job.JobConfig(data_dir=Path("."))
    runs = calibration_runs or defaults.calibration_runs
    recipe = calibration_recipe or defaults.calibration_recipe
    figures = compare_affect_heads(runs, recipe, EMOTIONS)
    if not figures:
        raise fail(f"no held-out-corpus runs of '{recipe}' in {runs}: run `make compare` first")
    text = affect_heads_table(figures, recipe, runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(text)


@app.command()
def compare(
    recipes: str = typer.Option(
        "baseline", help="comma-separated recipe names (see --list), or 'all'"
    ),
    seeds: int = typer.Option(3, help="seeds per recipe (1337, 1338, …)"),
    screen: bool = typer.Option(
        False, help="short schedule for screening levers (fewer epochs, one augmented copy)"
    ),
    data: DataOption = Path("../shared/datasets"),
    cache: CacheOption = None,
    runs: Path = typer.Option(
        Path("models/evaluation/compare"), help="where each finished run is stored (resumable)"
    ),
    held_out: HeldOutOption = None,
    workers: WorkersOption = None,
    list_recipes: bool = typer.Option(False, "--list", help="print the recipes and exit"),
    train: bool = typer.Option(
        True, help="--no-train: only rewrite the table from the runs already stored"
    ),
) -> None:
    """Train each recipe with several seeds, score validation speakers and held-out corpora
    (their non-test speakers), and write one table of seed means ± standard deviations."""
    from ser_training.evaluation import compare as comparison

    if list_recipes:
        for name, recipe in comparison.RECIPES.items():
            typer.echo(f"{name}: {recipe.description}")
        return
    names = (
        list(comparison.RECIPES) if recipes == "all" else [r.strip() for r in recipes.split(",")]
    )
    unknown = [n for n in names if n not in comparison.RECIPES]
    if unknown:
        raise fail(f"unknown recipes {unknown}; known: {list(comparison.RECIPES)}", 2)
    base = build_config(data, cache=cache, workers=workers)
    table = comparison.run_comparison(
        base, names if train else [], seeds=seeds, screen=screen, runs_dir=runs,
        held_out=held_out_corpora(held_out, data), echo=typer.echo,
    )  # fmt: skip
    typer.echo(table)


@app.command()
def tune(
    data: DataOption = Path("../shared/datasets"),
    cache: CacheOption = None,
    trials: int = typer.Option(8, help="number of Optuna trials"),
    epochs: int = typer.Option(14, help="epochs per trial (early stopping on validation)"),
    augment: int = 1,
    output: Path = typer.Option(None, help="where the winning hyperparameters go"),
    seed: SeedOption = None,
) -> None:
    """Optuna search scored on the validation speakers only (the test speakers are never loaded)."""
    from ser_training import job
    from ser_training.tuning import run_search

    config = build_config(data, cache=cache, epochs=epochs, augment_copies=augment, seed=seed)
    run_search(config, trials, output or job.hyperparameters_path(config.encoder))


if __name__ == "__main__":
    app()
