"""Hyperparameter search with Optuna, scored on the validation speakers only.

The test speakers' features are never even loaded here, so no choice can leak from them.
Results go to a CSV/markdown table next to the winner's JSON, which `ser-train train` reads.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import optuna

from ser_features import EMOTIONS, FeatureConfig
from ser_training.datasets import scan_data_dir
from ser_training.feature_cache import FeatureCache
from ser_training.model import ModelHyperparameters
from ser_training.pipeline import JobConfig, prepare_features
from ser_training.splits import Split, split_by_speaker
from ser_training.trainer import fit
from ser_training.windows import assemble


def suggest(trial: optuna.Trial) -> ModelHyperparameters:
    return ModelHyperparameters(
        filters=trial.suggest_categorical("filters", [32, 48, 64]),
        blocks=trial.suggest_int("blocks", 2, 4),
        convs_per_block=trial.suggest_int("convs_per_block", 1, 2),
        kernel_size=trial.suggest_categorical("kernel_size", [3, 5, 7]),
        dense_units=trial.suggest_categorical("dense_units", [64, 128, 256]),
        dropout=trial.suggest_float("dropout", 0.1, 0.5),
        learning_rate=trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-5, 1e-3, log=True),
        time_mask=trial.suggest_categorical("time_mask", [0, 20, 40]),
        feature_mask=trial.suggest_categorical("feature_mask", [0, 8, 16]),
    )


def run_search(
    data: Path, cache_dir: Path, trials: int, epochs: int, augment: int, output: Path, seed: int
) -> dict:
    scan = scan_data_dir(data)
    full = split_by_speaker(scan.utterances)
    split = Split(full.train, full.validation, [])  # drop the test speakers before anything else
    config = JobConfig(data_dir=data, cache_dir=cache_dir, augment_copies=augment, seed=seed)
    cache = FeatureCache(cache_dir, FeatureConfig())
    prepare_features(cache, split, config)
    train = assemble(split.train, cache, EMOTIONS, config.variants)
    validation = assemble(split.validation, cache, EMOTIONS)
    rows = []

    def objective(trial: optuna.Trial) -> float:
        hp = suggest(trial)
        started = time.time()
        result = fit(train, validation, EMOTIONS, hp, epochs=epochs, seed=seed, verbose=0)
        score = result.validation["uar"]  # UAR: classes count equally, as the product needs
        rows.append({"trial": trial.number, "validation_uar": round(score, 4),
                     "validation_accuracy": round(result.validation["accuracy"], 4),
                     "best_epoch": result.best_epoch, "seconds": round(time.time() - started), **asdict(hp)})  # fmt: skip
        print(
            f"trial {trial.number}: validation UAR {score:.3f} in {time.time() - started:.0f}s {asdict(hp)}",
            flush=True,
        )
        return score

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(
        {
            "filters": 64,
            "blocks": 3,
            "convs_per_block": 1,
            "kernel_size": 5,
            "dense_units": 128,
            "dropout": 0.3,
            "learning_rate": 1e-3,
            "weight_decay": 1e-4,
            "time_mask": 20,
            "feature_mask": 8,
        }
    )  # fmt: skip — the hand-picked default, as trial 0
    study.optimize(objective, n_trials=trials)
    best = {**asdict(ModelHyperparameters()), **study.best_params}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "hyperparameters": best,
        "selected_by": f"Optuna TPE, {trials} trials x up to {epochs} epochs, maximising utterance UAR on the "
                       "validation speakers (test speakers never loaded)",
        "validation_uar": study.best_value,
    }, indent=2) + "\n")  # fmt: skip
    table = output.with_name("tuning_results.md")
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += [
        "| " + " | ".join(str(r[k]) for k in keys) + " |"
        for r in sorted(rows, key=lambda r: -r["validation_uar"])
    ]
    table.write_text(
        "# Hyperparameter search (validation speakers only)\n\n" + "\n".join(lines) + "\n"
    )
    print(f"best validation UAR {study.best_value:.3f}: {best} -> {output}")
    return best
