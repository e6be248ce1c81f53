"""`ser-train`: train, evaluate across corpora, and tune the SER CNN."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from ser_features import FeatureConfig, FeatureConfigError
from ser_training.model import ModelHyperparameters

app = typer.Typer(help="Train, evaluate and tune the speech emotion CNN.", no_args_is_help=True)

# The shipped recipe's feature options; CLI defaults come from here so they cannot drift.
DEFAULT_FEATURES = FeatureConfig()
DEFAULT_HYPERPARAMETERS = Path(__file__).resolve().parents[2] / "configs" / "hyperparameters.json"
QUICK = {"filters": 16, "blocks": 2, "dense_units": 32, "batch_size": 32}

DataOption = Annotated[
    Path,
    typer.Option(
        "--data", help="folder with corpus sub-folders (ravdess/, tess/, emodb/, crema-d/, savee/)"
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out", help="where ser_model.onnx, ser_model.json, MODEL_CARD.md and evaluation/ go"
    ),
]
CacheOption = Annotated[Path, typer.Option("--cache", help="feature cache folder")]
PadModeOption = Annotated[
    str,
    typer.Option(
        "--pad-mode", help="fill a voiced part shorter than a window with 'zero' or 'repeat' (loop)"
    ),
]
NormalizationOption = Annotated[
    str,
    typer.Option(
        "--normalization",
        help="per-window feature scaling: 'speech' (statistics over the audio frames only), "
        "'window' (all frames, padding included) or 'none'",
    ),
]
BalanceOption = Annotated[
    bool,
    typer.Option(
        "--balance-corpora/--no-balance-corpora",
        help="weigh every corpus the same within each emotion (default: classes only)",
    ),
]


def load_hyperparameters(path: Path | None, quick: bool) -> ModelHyperparameters:
    values: dict = {}
    source = path or (DEFAULT_HYPERPARAMETERS if DEFAULT_HYPERPARAMETERS.exists() else None)
    if source:
        values = json.loads(Path(source).read_text()).get("hyperparameters", {})
    if quick:
        values.update(QUICK)
    return ModelHyperparameters(**values)


def job_config(data: Path, out: Path, cache: Path, epochs: int, augment: int, hyperparameters: Path | None,
               quick: bool, seed: int, workers: int | None,
               pad_mode: str = DEFAULT_FEATURES.pad_mode, balance_corpora: bool = False,
               normalization: str = DEFAULT_FEATURES.normalization):  # fmt: skip
    from ser_training.pipeline import JobConfig

    return JobConfig(
        data_dir=data, out_dir=out, cache_dir=cache, epochs=3 if quick else epochs,
        augment_copies=0 if quick else augment,
        hyperparameters=load_hyperparameters(hyperparameters, quick),
        feature_config=FeatureConfig(pad_mode=pad_mode, normalization=normalization),
        seed=seed, workers=workers,
        balance_corpora=balance_corpora,
    )  # fmt: skip


@app.command()
def train(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    cache: CacheOption = Path("artifacts/cache/features"),
    epochs: int = typer.Option(60, help="maximum epochs (early stopping on validation speakers)"),
    augment: int = typer.Option(2, help="random augmented copies per training file"),
    hyperparameters: Path | None = typer.Option(
        None, help="JSON from `ser-train tune` (default: training/configs/hyperparameters.json)"
    ),
    robustness: bool = typer.Option(True, help="also score degraded copies of the test speakers"),
    quick: bool = typer.Option(False, help="tiny network, 3 epochs, no augmentation: a smoke run"),
    seed: int = 1337,
    workers: int | None = typer.Option(
        None, help="feature extraction processes (default: all cores)"
    ),
    pad_mode: PadModeOption = DEFAULT_FEATURES.pad_mode,
    balance_corpora: BalanceOption = False,
    normalization: NormalizationOption = DEFAULT_FEATURES.normalization,
) -> None:
    """Train on held-in speakers, evaluate on held-out speakers, export ONNX with parity check."""
    from ser_training import pipeline
    from ser_training.export import export_model
    from ser_training.model_card import write_model_card
    from ser_training.report import write_report

    started = time.time()
    try:
        config = job_config(data, out, cache, epochs, augment, hyperparameters, quick, seed,
                            workers, pad_mode, balance_corpora, normalization)  # fmt: skip
    except FeatureConfigError as error:
        typer.secho(f"bad option: {error}", fg="red", err=True)
        raise typer.Exit(2) from error
    try:
        summary = pipeline.train_and_evaluate(config)
    except (pipeline.TrainingFailed, FileNotFoundError) as error:
        typer.secho(f"training failed: {error}", fg="red", err=True)
        raise typer.Exit(1) from error
    result, cache_, split = summary["_model"], summary["_cache"], summary["_split"]
    if robustness and split.test:
        summary["robustness"] = pipeline.robustness(result.model, split, cache_, config)
    from ser_training.windows import assemble

    parity_batch = assemble(split.test or split.train, cache_, config.labels).features[:64]
    summary["timing_s"]["total"] = round(time.time() - started, 1)
    metadata = pipeline.make_metadata(summary, config)
    onnx_path, difference = export_model(result.model, metadata, parity_batch, out)
    summary["export"] = {
        "onnx": str(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "keras_onnx_max_abs_diff": difference,
    }
    report_dir = out / "evaluation"
    pipeline.write_json(report_dir / "summary.json", summary)
    write_report(summary, report_dir)
    write_model_card(summary, out / "MODEL_CARD.md", pipeline.LICENSE_NOTE)
    for corpus, m in summary["test"].items():
        typer.echo(
            f"held-out speakers, {corpus}: accuracy {m['accuracy']:.3f}, UAR {m['uar']:.3f} (n={m['n']})"
        )
    typer.echo(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB, Keras/ONNX max diff {difference:.1e}) "
               f"in {summary['timing_s']['total']:.0f} s; report: {report_dir / 'report.md'}")  # fmt: skip


@app.command()
def evaluate(
    data: DataOption = Path("../shared/datasets"),
    out: OutOption = Path("models"),
    cache: CacheOption = Path("artifacts/cache/features"),
    epochs: int = 60,
    augment: int = 2,
    hyperparameters: Path | None = None,
    corpora: str = typer.Option("ravdess,emodb,tess", help="corpora to hold out in turn"),
    tess_reverse: bool = typer.Option(True, help="also train with TESS OAF and test on YAF"),
    quick: bool = typer.Option(False, help="tiny network, 3 epochs, no augmentation: a smoke run"),
    seed: int = 1337,
    workers: int | None = None,
) -> None:
    """Leave-one-corpus-out (and TESS reverse) runs of the recipe that trained <out>'s model
    (its feature config, weighting and hyperparameters); merged into that model's report."""

    from ser_training import pipeline
    from ser_training.model_card import write_model_card
    from ser_training.report import write_report

    config = job_config(data, out, cache, epochs, augment, hyperparameters, quick, seed, workers)
    summary_path = out / "evaluation" / "summary.json"
    if not summary_path.exists():
        typer.secho(f"{summary_path} not found: run `ser-train train` first", fg="red", err=True)
        raise typer.Exit(1)
    summary = json.loads(summary_path.read_text())
    # Measure the recipe of the model being reported, not whatever today's defaults are.
    config = dataclasses.replace(
        config,
        feature_config=FeatureConfig.from_dict(summary["feature_config"]),
        balance_corpora=bool(summary.get("balance_corpora", False)),
    )
    if hyperparameters is None and not quick:
        config = dataclasses.replace(
            config, hyperparameters=ModelHyperparameters(**summary["hyperparameters"])
        )
    held_out = [c.strip() for c in corpora.split(",") if c.strip()]
    summary["leave_one_corpus_out"] = pipeline.leave_one_corpus_out(config, held_out)
    for corpus, m in summary["leave_one_corpus_out"].items():
        typer.echo(
            f"held-out corpus {corpus}: accuracy {m['accuracy']:.3f}, UAR {m['uar']:.3f}, predictions {m['prediction_distribution']}"
        )
    if tess_reverse:
        summary["tess_reverse"] = pipeline.tess_reverse(config)
        typer.echo(
            f"TESS trained with OAF, tested on YAF: accuracy {summary['tess_reverse']['accuracy']:.3f}"
        )
    pipeline.write_json(summary_path, summary)
    write_report(summary, out / "evaluation")
    write_model_card(summary, out / "MODEL_CARD.md", pipeline.LICENSE_NOTE)
    sync_model_metadata(out, summary)


def sync_model_metadata(out: Path, summary: dict) -> None:
    """Rewrite the ONNX metadata and JSON sidecar from the summary, so the model, the report
    and the card always carry the same figures."""
    import onnx

    from ser_training import pipeline
    from ser_training.export import embed_metadata

    model_path = out / "ser_model.onnx"
    if not model_path.exists():
        return
    config = pipeline.JobConfig(
        data_dir=Path("."),
        labels=tuple(summary["labels"]),
        feature_config=FeatureConfig.from_dict(summary["feature_config"]),
    )
    metadata = pipeline.make_metadata(summary, config)
    proto = onnx.load(str(model_path))
    embed_metadata(proto, metadata)
    onnx.save(proto, str(model_path))
    (out / "ser_model.json").write_text(
        json.dumps(metadata.to_json_dict(), indent=2, sort_keys=True) + "\n"
    )


@app.command()
def report(out: OutOption = Path("models")) -> None:
    """Re-render the report and model card from <out>/evaluation/summary.json (no training)."""
    from ser_training import pipeline
    from ser_training.model_card import write_model_card
    from ser_training.report import write_report

    summary_path = out / "evaluation" / "summary.json"
    if not summary_path.exists():
        typer.secho(f"{summary_path} not found: run `ser-train train` first", fg="red", err=True)
        raise typer.Exit(1)
    summary = json.loads(summary_path.read_text())
    write_report(summary, out / "evaluation")
    write_model_card(summary, out / "MODEL_CARD.md", pipeline.LICENSE_NOTE)
    sync_model_metadata(out, summary)
    typer.echo(
        f"wrote {out / 'evaluation' / 'report.md'}, {out / 'MODEL_CARD.md'} and the model metadata"
    )


@app.command()
def tune(
    data: DataOption = Path("../shared/datasets"),
    cache: CacheOption = Path("artifacts/cache/features"),
    trials: int = typer.Option(8, help="number of Optuna trials"),
    epochs: int = typer.Option(14, help="epochs per trial (early stopping on validation)"),
    augment: int = 1,
    output: Path = typer.Option(
        DEFAULT_HYPERPARAMETERS, help="where the winning hyperparameters go"
    ),
    seed: int = 1337,
) -> None:
    """Optuna search scored on the validation speakers only (the test speakers are never loaded)."""
    from ser_training.tuning import run_search

    run_search(data, cache, trials, epochs, augment, output, seed)


if __name__ == "__main__":
    app()
