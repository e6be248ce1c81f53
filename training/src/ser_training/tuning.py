"""Hyperparameter search with Optuna, scored on the validation speakers only.

The test speakers' features are never even loaded here, so no choice can leak from them.
Results go to a CSV/markdown table next to the winner's JSON, which `ser-train train` reads.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict
from pathlib import Path

import optuna

from ser_training.data.splits import Split, split_by_speaker
from ser_training.job import JobConfig, feature_cache, load_windows, prepare_features, scan
from ser_training.model.network import ModelHyperparameters
from ser_training.model.trainer import fit

# The hyperparameters the search varies; the rest keep the recipe's values.
SEARCHED = ("filters", "blocks", "convs_per_block", "kernel_size", "dense_units", "dropout",
            "learning_rate", "weight_decay", "time_mask", "feature_mask")  # fmt: skip


def suggest(trial: optuna.Trial, base: ModelHyperparameters) -> ModelHyperparameters:
    return dataclasses.replace(
        base,
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


def run_search(config: JobConfig, trials: int, output: Path) -> dict:
    """Optuna TPE over :func:`suggest`, each trial trained with ``config``'s recipe and scored
    by utterance UAR on the validation speakers; writes the winner to ``output``."""
    full = split_by_speaker(scan(config).utterances)
    split = Split(full.train, full.validation, [])  # drop the test speakers before anything else
    cache = feature_cache(config)
    prepare_features(cache, split, config)
    train = load_windows(split.train, cache, config, config.variants, training=True)
    validation = load_windows(split.validation, cache, config)
    rows = []

    def objective(trial: optuna.Trial) -> float:
        hp = suggest(trial, config.hyperparameters)
        started = time.time()
        result = fit(train, validation, config.labels, hp, epochs=config.epochs, seed=config.seed,
                     verbose=0, balance=config.balance, corpus_labels=config.corpus_labels)  # fmt: skip
        score = result.validation["uar"]  # UAR: classes count equally, as the product needs
        rows.append({"trial": trial.number, "validation_uar": round(score, 4),
                     "validation_accuracy": round(result.validation["accuracy"], 4),
                     "best_epoch": result.best_epoch, "seconds": round(time.time() - started), **asdict(hp)})  # fmt: skip
        print(
            f"trial {trial.number}: validation UAR {score:.3f} in {time.time() - started:.0f}s {asdict(hp)}",
            flush=True,
        )
        return score

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed)
    )
    # Trial 0 is the current recipe's own hyperparameters, so the search can only improve on it.
    study.enqueue_trial({k: getattr(config.hyperparameters, k) for k in SEARCHED})
    study.optimize(objective, n_trials=trials)
    best = {**asdict(config.hyperparameters), **study.best_params}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "hyperparameters": best,
        "selected_by": f"Optuna TPE, {trials} trials x up to {config.epochs} epochs, maximising utterance UAR on the "
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
