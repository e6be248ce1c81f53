"""The CNN: convolution blocks over the (time × feature) matrix, pooled, dense, softmax.

Two front ends: "conv1d" (the features are channels, convolved along time) and "conv2d" (the
matrix is an image, convolved along time and feature, so a pattern can move across mel bands,
as the same emotion does across voices). Two poolings over time: "meanmax" and "stats" (mean
and standard deviation, as in x-vector speaker embeddings). Training targets are packed with a
mask of the labels each example's corpus has (:func:`pack_targets`), so corpora recorded with
fewer emotions do not teach their missing ones as negatives.

On a pretrained encoder (Model v3) the input is the encoder's selected layer outputs,
(batch, n_layers, n_steps, d_model): a learned softmax weighting of the layers (each
LayerNorm-ed first, as their scales differ) makes one (n_steps, d_model) sequence, and the same
1-D trunk, pooling and dense layers follow (:func:`build_model` picks by the input's rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import keras
import numpy as np
from keras import layers

# The head on a frozen pretrained encoder (Model v3), fixed before any encoder result (not
# tuned): 75 steps of 384 channels per 3-s window, so two blocks of 128 → 256 channels
# (19 steps left), a wider dense layer than the hand-crafted CNN, band masks sized to the
# encoder's channels.
ENCODER_HEAD = {
    "filters": 128, "blocks": 2, "convs_per_block": 1, "kernel_size": 5, "dense_units": 128,
    "dropout": 0.3, "learning_rate": 1e-3, "weight_decay": 1e-4, "batch_size": 64,
    "time_mask": 10, "feature_mask": 48, "label_smoothing": 0.1, "architecture": "conv1d",
    "pooling": "stats",
}  # fmt: skip
# "linear_probe": no network: logistic regression on time-pooled encoder layers
# (model.probe), the floor of the encoder comparison.
ARCHITECTURES = ("conv1d", "conv2d", "linear_probe")
POOLINGS = ("meanmax", "stats")
PROBABILITY_FLOOR = 1e-7  # keeps log() finite, as Keras' own cross-entropy does


@dataclass(frozen=True)
class ModelHyperparameters:
    """Everything the tuner may change about the network and its optimisation."""

    filters: int = 64  # channels of the first block; doubled each block, capped at 256
    blocks: int = 3
    convs_per_block: int = 1
    kernel_size: int = 5  # frames
    dense_units: int = 128
    dropout: float = 0.3
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    # SpecAugment-style masking during training: up to this many frames / features are zeroed.
    time_mask: int = 30
    feature_mask: int = 12
    label_smoothing: float = 0.1
    architecture: str = "conv1d"  # one of ARCHITECTURES
    pooling: str = "stats"  # one of POOLINGS; "stats" won the issue 11 comparison

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}")

    def to_dict(self) -> dict:
        return asdict(self)


def pack_targets(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One-hot targets and the allowed-label mask side by side, for :func:`masked_crossentropy`.

    Parameters
    ----------
    labels : np.ndarray, shape (n,), int label index
    mask : np.ndarray, shape (n, n_labels), 1 where the example's corpus has the label

    Returns
    -------
    np.ndarray, shape (n, 2 × n_labels), float32
    """
    one_hot = np.eye(mask.shape[1], dtype=np.float32)[labels]
    if np.any(one_hot * (1.0 - mask)):
        raise ValueError("an example's own label is masked out")
    return np.concatenate([one_hot, mask.astype(np.float32)], axis=1)


def masked_crossentropy(label_smoothing: float):
    """Cross-entropy of the softmax restricted to each example's allowed labels.

    Renormalising the predicted probabilities over the allowed labels is the softmax over
    their logits alone. Label smoothing spreads over the allowed labels only. With every
    label allowed this is Keras' CategoricalCrossentropy(label_smoothing=…).
    """

    def loss(y_true, y_pred):
        ops = keras.ops
        n_labels = y_pred.shape[-1]
        target, mask = y_true[:, :n_labels], y_true[:, n_labels:]
        allowed = ops.sum(mask, axis=-1, keepdims=True)
        target = target * (1.0 - label_smoothing) + label_smoothing * mask / allowed
        kept = y_pred * mask
        kept = kept / ops.maximum(ops.sum(kept, axis=-1, keepdims=True), PROBABILITY_FLOOR)
        return -ops.sum(target * ops.log(ops.clip(kept, PROBABILITY_FLOOR, 1.0)), axis=-1)

    return loss


def masked_accuracy(y_true, y_pred):
    """Top-1 accuracy against the one-hot half of packed targets."""
    ops = keras.ops
    n_labels = y_pred.shape[-1]
    hits = ops.equal(ops.argmax(y_true[:, :n_labels], axis=-1), ops.argmax(y_pred, axis=-1))
    return ops.cast(hits, "float32")


masked_accuracy.__name__ = "accuracy"  # so Keras logs "accuracy" / "val_accuracy"


class SpecAugmentMask(layers.Layer):
    """Zero one random band of frames and one of features per example (training only).

    Input and output shape (batch, n_frames, n_features). Identity at inference, so it
    vanishes from the exported graph's computation.
    """

    def __init__(self, max_frames: int, max_features: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_frames = max_frames
        self.max_features = max_features
        self._generator = keras.random.SeedGenerator(1234)

    def call(self, inputs, training=None):
        if not training or (self.max_frames == 0 and self.max_features == 0):
            return inputs
        ops = keras.ops
        batch = ops.shape(inputs)[0]
        n_frames, n_features = inputs.shape[1], inputs.shape[2]

        def band(size: int, max_width: int):
            width = keras.random.randint((batch, 1), 0, max_width + 1, seed=self._seed())
            start = keras.random.randint((batch, 1), 0, size, seed=self._seed())
            position = ops.arange(size)[None, :]
            return ops.logical_and(position >= start, position < start + width)

        frame_mask = band(n_frames, self.max_frames)[:, :, None]
        feature_mask = band(n_features, self.max_features)[:, None, :]
        masked = ops.logical_or(frame_mask, feature_mask)
        return ops.where(masked, ops.zeros_like(inputs), inputs)

    def _seed(self):
        return self._generator

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_frames": self.max_frames,
            "max_features": self.max_features,
        }


def _conv1d_trunk(x, hp: ModelHyperparameters, regulariser):
    """(batch, n_frames, n_features) → (batch, n_frames / 2^blocks, channels)."""
    filters = hp.filters
    for block in range(hp.blocks):
        for repeat in range(hp.convs_per_block):
            x = layers.Conv1D(
                filters, hp.kernel_size, padding="same", use_bias=False,
                kernel_regularizer=regulariser, name=f"conv{block}_{repeat}",
            )(x)  # fmt: skip
            x = layers.BatchNormalization(name=f"bn{block}_{repeat}")(x)
            x = layers.Activation("relu", name=f"relu{block}_{repeat}")(x)
        x = layers.MaxPooling1D(2, name=f"pool{block}")(x)
        x = layers.SpatialDropout1D(hp.dropout / 2, name=f"drop{block}")(x)
        filters = min(filters * 2, 256)
    return x


def _conv2d_trunk(x, hp: ModelHyperparameters, regulariser):
    """(batch, n_frames, n_features) → (batch, n_frames / 2^blocks, channels × features left).

    The feature axis is pooled with the time axis, then folded into the channels, so the
    result is again a sequence over time for the same pooling as the 1-D trunk.
    """
    x = layers.Reshape((*x.shape[1:], 1), name="as_image")(x)
    filters = max(8, hp.filters // 2)  # 2-D maps are n_features times larger per channel
    for block in range(hp.blocks):
        for repeat in range(hp.convs_per_block):
            x = layers.Conv2D(
                filters, hp.kernel_size, padding="same", use_bias=False,
                kernel_regularizer=regulariser, name=f"conv2d{block}_{repeat}",
            )(x)  # fmt: skip
            x = layers.BatchNormalization(name=f"bn{block}_{repeat}")(x)
            x = layers.Activation("relu", name=f"relu{block}_{repeat}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
        x = layers.SpatialDropout2D(hp.dropout / 2, name=f"drop{block}")(x)
        filters = min(filters * 2, 128)
    _, n_time, n_freq, channels = x.shape
    return layers.Reshape((n_time, n_freq * channels), name="fold_frequency")(x)


def _pool_time(x, pooling: str):
    """(batch, time, channels) → (batch, 2 × channels)."""
    if pooling == "stats":
        mean = layers.GlobalAveragePooling1D(name="time_mean")(x)
        variance = layers.GlobalAveragePooling1D(name="time_power")(layers.Multiply()([x, x]))
        std = layers.Lambda(
            lambda pair: keras.ops.sqrt(keras.ops.maximum(pair[1] - pair[0] ** 2, 1e-6)),
            name="time_std",
        )([mean, variance])
        return layers.Concatenate(name="pool_time")([mean, std])
    # Mean and max over time: the mean summarises the utterance, the max keeps short cues.
    return layers.Concatenate(name="pool_time")(
        [layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)]
    )


class LayerWeighting(layers.Layer):
    """Softmax-weighted sum of LayerNorm-ed encoder layers (as SUPERB's weighted-sum probes).

    Input (batch, n_layers, n_steps, d_model); output (batch, n_steps, d_model). The weights
    start equal; the normalisation has no parameters of its own (each layer standardised per
    step over d_model), so the learned weights alone say how much each layer counts.
    """

    def build(self, input_shape) -> None:
        self.layer_logits = self.add_weight(
            shape=(input_shape[1],), initializer="zeros", name="layer_logits"
        )

    def call(self, inputs):
        ops = keras.ops
        inputs = ops.cast(inputs, self.compute_dtype)
        mean = ops.mean(inputs, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(inputs - mean), axis=-1, keepdims=True)
        normed = (inputs - mean) / ops.sqrt(variance + 1e-5)
        weights = ops.softmax(self.layer_logits)[None, :, None, None]
        return ops.sum(normed * weights, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], input_shape[3])


def build_model(
    input_shape: tuple[int, ...], n_labels: int, hp: ModelHyperparameters
) -> keras.Model:
    """Network mapping (batch, n_frames, n_features), or encoder layers (batch, n_layers,
    n_steps, d_model), to (batch, n_labels) probabilities."""
    if hp.architecture == "linear_probe":
        raise ValueError("a linear probe is fitted by model.probe, not built as a network")
    inputs = keras.Input(shape=input_shape, name="features")
    x = inputs
    if len(input_shape) == 3:  # encoder layers: weigh them into one sequence first
        if hp.architecture != "conv1d":
            raise ValueError("an encoder head is a 1-D trunk over encoder steps (conv1d)")
        x = LayerWeighting(name="layer_weighting")(x)
    x = SpecAugmentMask(hp.time_mask, hp.feature_mask, name="spec_augment")(x)
    regulariser = keras.regularizers.l2(hp.weight_decay)
    trunk = _conv2d_trunk if hp.architecture == "conv2d" else _conv1d_trunk
    x = _pool_time(trunk(x, hp, regulariser), hp.pooling)
    x = layers.Dense(
        hp.dense_units, activation="relu", kernel_regularizer=regulariser, name="dense"
    )(x)
    x = layers.Dropout(hp.dropout, name="dropout")(x)
    outputs = layers.Dense(n_labels, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="ser_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(hp.learning_rate),
        loss=masked_crossentropy(hp.label_smoothing),
        metrics=[masked_accuracy],
    )
    return model


def ensemble_model(members: Sequence[keras.Model]) -> keras.Model:
    """One model whose output is the mean of its members' probabilities (one ONNX graph).

    Members must share the input shape and label order; a single member is returned as is.
    """
    if len(members) == 1:
        return members[0]
    for index, member in enumerate(members):
        # Keras needs unique operation names in one graph; every member is built as "ser_cnn".
        member.name = f"member_{index}"
    inputs = keras.Input(shape=tuple(members[0].inputs[0].shape[1:]), name="features")
    outputs = layers.Average(name="probabilities")(
        [member(inputs, training=False) for member in members]
    )
    return keras.Model(inputs, outputs, name=f"ser_ensemble_{len(members)}")
