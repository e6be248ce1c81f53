"""Fitting the CNN: class weighting, early stopping on validation speakers, seeding."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ser_features import utterance_probabilities
from ser_training.metrics import classification_metrics
from ser_training.model import ModelHyperparameters, build_model
from ser_training.windows import WindowSet

DEFAULT_SEED = 1337
EARLY_STOPPING_PATIENCE = 8  # epochs without validation improvement


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and TensorFlow; keep TF's op-level determinism where affordable."""
    import keras

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    keras.utils.set_random_seed(seed)


def balanced_sample_weights(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per-example weights that give every class the same total weight and, within a class,
    every group (corpus) that has it the same share.

    Without the group term the biggest corpus decides what each emotion sounds like (TESS's
    two speakers would be half of the training audio); with one group it is plain class
    balancing (total / (n_classes × class count)).

    Parameters
    ----------
    labels : np.ndarray, shape (n,), int class index
    groups : np.ndarray, shape (n,), any hashable group id per example

    Returns
    -------
    np.ndarray, shape (n,), float32, mean 1
    """
    weights = np.zeros(len(labels), dtype=np.float64)
    classes = np.unique(labels)
    for label in classes:
        in_class = labels == label
        class_groups = np.unique(groups[in_class])
        for group in class_groups:
            cell = in_class & (groups == group)
            weights[cell] = 1.0 / (len(classes) * len(class_groups) * cell.sum())
    return (weights * len(labels)).astype(np.float32)


@dataclass
class TrainingResult:
    model: object  # keras.Model
    history: dict[str, list[float]]
    best_epoch: int  # 1-based epoch whose weights were kept
    validation: dict  # utterance-level metrics on the validation speakers


def fit(
    train: WindowSet,
    validation: WindowSet | None,
    labels: Sequence[str],
    hp: ModelHyperparameters,
    *,
    epochs: int = 60,
    seed: int = DEFAULT_SEED,
    verbose: int = 2,
    fixed_epochs: bool = False,
    balance_corpora: bool = False,
) -> TrainingResult:
    """Train on ``train`` windows; stop early on validation accuracy (restoring the best).

    Examples are weighted so classes count equally, and with ``balance_corpora`` so each
    corpus counts equally within a class (:func:`balanced_sample_weights`). With
    ``fixed_epochs`` (or no validation set) it trains exactly ``epochs`` epochs.
    """
    import keras

    seed_everything(seed)
    n_labels = len(labels)
    model = build_model(train.features.shape[1:], n_labels, hp)
    y_train = keras.utils.to_categorical(train.labels, n_labels)
    groups = train.corpora if balance_corpora else np.zeros(len(train.labels), dtype=int)
    callbacks = []
    validation_data = None
    if validation is not None and not fixed_epochs:
        validation_data = (
            validation.features,
            keras.utils.to_categorical(validation.labels, n_labels),
        )
        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=EARLY_STOPPING_PATIENCE, restore_best_weights=True,
                mode="max",
            ),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=4, min_lr=1e-5),
        ]  # fmt: skip
    history = model.fit(
        train.features, y_train,
        validation_data=validation_data,
        epochs=epochs,
        batch_size=hp.batch_size,
        sample_weight=balanced_sample_weights(train.labels, groups),
        callbacks=callbacks,
        shuffle=True,
        verbose=verbose,
    )  # fmt: skip
    hist = {k: [float(v) for v in values] for k, values in history.history.items()}
    if validation_data is not None:
        best_epoch = int(np.argmax(hist["val_accuracy"])) + 1
    else:
        best_epoch = len(hist["loss"])
    val_metrics = evaluate(model, validation, labels) if validation is not None else {}
    return TrainingResult(model, hist, best_epoch, val_metrics)


def predict_windows(model, features: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Window probabilities, shape (n_windows, n_labels)."""
    return np.asarray(model.predict(features, batch_size=batch_size, verbose=0))


def predict_utterances(model, windows: WindowSet) -> np.ndarray:
    """Utterance probabilities, shape (n_utterances, n_labels): each recording's window
    probabilities averaged, as the API does."""
    return utterance_probabilities(predict_windows(model, windows.features), windows.utterance)


def evaluate(model, windows: WindowSet, labels: Sequence[str]) -> dict:
    """Utterance-level metrics: window probabilities averaged per recording, as the API does."""
    probabilities = predict_utterances(model, windows)
    return classification_metrics(windows.utterance_labels, probabilities.argmax(axis=1), labels)
