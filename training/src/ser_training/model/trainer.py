"""Fitting the CNN: class weighting, early stopping on validation speakers, seeding."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ser_features import utterance_probabilities
from ser_training.evaluation.metrics import score_probabilities
from ser_training.features.windows import WindowSet
from ser_training.model.network import ModelHyperparameters, build_model, pack_targets

DEFAULT_SEED = 1337
DEFAULT_EPOCHS = 60  # upper bound; early stopping on the validation speakers ends most runs
EARLY_STOPPING_PATIENCE = 8  # epochs without validation improvement
# How examples are weighted (JobConfig.balance): every class the same total weight, and within
# a class every corpus ("corpus") or every corpus and then every speaker ("speaker").
BALANCE_MODES = ("class", "corpus", "speaker")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and TensorFlow; keep TF's op-level determinism where affordable."""
    import keras

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    keras.utils.set_random_seed(seed)


def balanced_sample_weights(labels: np.ndarray, *levels: np.ndarray) -> np.ndarray:
    """Per-example weights: every class the same total weight; within a class, every group of
    the first level the same share; within that, every group of the next level; and so on.

    With no level it is plain class balancing (total / (n_classes × class count)). With the
    corpus as a level, the biggest corpus no longer decides what each emotion sounds like
    (TESS's two speakers would be half of the training audio); with the speaker as the next
    level, no speaker does either.

    Parameters
    ----------
    labels : np.ndarray, shape (n,), int class index
    levels : np.ndarray, shape (n,) each, any hashable group id per example, outermost first

    Returns
    -------
    np.ndarray, shape (n,), float32, mean 1
    """
    weights = np.zeros(len(labels), dtype=np.float64)
    classes = np.unique(labels)

    def share(members: np.ndarray, mass: float, depth: int) -> None:
        if depth == len(levels):
            weights[members] = mass / members.sum()
            return
        groups = np.unique(levels[depth][members])
        for group in groups:
            share(members & (levels[depth] == group), mass / len(groups), depth + 1)

    for label in classes:
        share(labels == label, 1.0 / len(classes), 0)
    return (weights * len(labels)).astype(np.float32)


def example_weights(windows: WindowSet, balance: str) -> np.ndarray:
    """:func:`balanced_sample_weights` of a window set for one of BALANCE_MODES."""
    if balance not in BALANCE_MODES:
        raise ValueError(f"balance must be one of {list(BALANCE_MODES)}, got {balance!r}")
    levels = {"class": (), "corpus": (windows.corpora,)}
    levels["speaker"] = (windows.corpora, windows.speakers)
    return balanced_sample_weights(windows.labels, *levels[balance])


def label_masks(
    windows: WindowSet, labels: Sequence[str], corpus_labels: dict[str, set[str]] | None
) -> np.ndarray:
    """Which labels each window's corpus can have, shape (n_windows, n_labels), float32 0/1.

    A corpus recorded with four emotions says nothing about the other three: with a mask, the
    loss is a softmax over the labels the corpus has, so its missing emotions are not taught
    as negatives. ``None`` allows every label for every window (the plain softmax).
    """
    mask = np.ones((len(windows.labels), len(labels)), dtype=np.float32)
    if corpus_labels is None:
        return mask
    corpora = windows.corpora
    for corpus, present in corpus_labels.items():
        rows = corpora == corpus
        mask[np.ix_(rows, [i for i, label in enumerate(labels) if label not in present])] = 0.0
    return mask


PREDICT_CHUNK = 1024  # windows converted to float32 and predicted at a time


def _float16_batches(
    features: np.ndarray, targets: np.ndarray, weights: np.ndarray | None, batch_size: int,
    seed: int,
):  # fmt: skip
    """A keras PyDataset over float16 encoder outputs: each batch is widened to float32 as it
    is read, and reshuffled every epoch. Handing Keras the arrays themselves made it keep a
    float32 copy of every training set in memory; a comparison's five trainings in one process
    grew past 24 GB."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = (
                self.rng.permutation(len(features))
                if weights is not None
                else np.arange(len(features))
            )

        def __len__(self) -> int:
            return -(-len(features) // batch_size)

        def __getitem__(self, index: int):
            rows = np.sort(self.order[index * batch_size : (index + 1) * batch_size])
            batch = (features[rows].astype(np.float32), targets[rows])
            return (*batch, weights[rows]) if weights is not None else batch

        def on_epoch_end(self) -> None:
            if weights is not None:  # training batches: a new order every epoch
                self.order = self.rng.permutation(len(features))

    return Batches()


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
    epochs: int = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SEED,
    verbose: int = 2,
    fixed_epochs: bool = False,
    balance: str = "class",
    corpus_labels: dict[str, set[str]] | None = None,
) -> TrainingResult:
    """Train on ``train`` windows; stop early on validation accuracy (restoring the best).

    Examples are weighted by ``balance`` (:func:`example_weights`); with ``corpus_labels``
    each corpus's loss covers only the labels it has (:func:`label_masks`). With
    ``fixed_epochs`` (or no validation set) it trains exactly ``epochs`` epochs.
    """
    seed_everything(seed)
    n_labels = len(labels)
    if hp.architecture == "linear_probe":
        from ser_training.model.probe import fit_probe

        probe = fit_probe(train.features, train.labels, train.speakers,
                          example_weights(train, balance), n_labels)  # fmt: skip
        validation_scores = score(probe, validation, labels) if validation is not None else {}
        return TrainingResult(probe, {"probe_c": [probe.chosen_c]}, 0, validation_scores)
    model = build_model(train.features.shape[1:], n_labels, hp)
    y_train = pack_targets(train.labels, label_masks(train, labels, corpus_labels))
    callbacks = []
    validation_data = None
    if validation is not None and not fixed_epochs:
        import keras

        validation_data = (
            validation.features,
            pack_targets(
                validation.labels, np.ones((len(validation.labels), n_labels), np.float32)
            ),
        )
        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=EARLY_STOPPING_PATIENCE, restore_best_weights=True,
                mode="max",
            ),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=4, min_lr=1e-5),
        ]  # fmt: skip
    if train.features.dtype == np.float16:  # encoder outputs: widen batch by batch
        if validation_data is not None:
            validation_data = _float16_batches(*validation_data, None, hp.batch_size, seed)
        history = model.fit(
            _float16_batches(train.features, y_train, example_weights(train, balance),
                             hp.batch_size, seed),
            validation_data=validation_data, epochs=epochs, callbacks=callbacks, verbose=verbose,
        )  # fmt: skip
    else:
        history = model.fit(
            train.features, y_train,
            validation_data=validation_data,
            epochs=epochs,
            batch_size=hp.batch_size,
            sample_weight=example_weights(train, balance),
            callbacks=callbacks,
            shuffle=True,
            verbose=verbose,
        )  # fmt: skip
    hist = {k: [float(v) for v in values] for k, values in history.history.items()}
    if validation_data is not None:
        best_epoch = int(np.argmax(hist["val_accuracy"])) + 1
    else:
        best_epoch = len(hist["loss"])
    val_metrics = score(model, validation, labels) if validation is not None else {}
    return TrainingResult(model, hist, best_epoch, val_metrics)


def predict_windows(model, features: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Window probabilities, shape (n_windows, n_labels). Predicted PREDICT_CHUNK windows at a
    time, widened to float32 per chunk: no full float32 copy of float16 encoder outputs."""
    chunks = [
        np.asarray(model.predict(features[start : start + PREDICT_CHUNK].astype(np.float32),
                                 batch_size=batch_size, verbose=0))
        for start in range(0, len(features), PREDICT_CHUNK)
    ]  # fmt: skip
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)


def predict_utterances(model, windows: WindowSet) -> np.ndarray:
    """Utterance probabilities, shape (n_utterances, n_labels): each recording's window
    probabilities averaged, as the API does."""
    return utterance_probabilities(predict_windows(model, windows.features), windows.utterance)


def score(
    model, windows: WindowSet, labels: Sequence[str], restrict_to_present: bool = False
) -> dict:
    """Utterance-level metrics of a window set (window probabilities averaged per recording,
    as the API does); see :func:`score_probabilities`."""
    probabilities = predict_utterances(model, windows)
    return score_probabilities(probabilities, windows.utterance_labels, labels, restrict_to_present)
