"""The CNN: Conv1D blocks over time on the (time × feature) matrix, pooled, dense, softmax."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers


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

    def to_dict(self) -> dict:
        return asdict(self)


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


def build_model(
    input_shape: tuple[int, int], n_labels: int, hp: ModelHyperparameters
) -> keras.Model:
    """Conv1D network mapping (batch, n_frames, n_features) → (batch, n_labels) probabilities."""
    inputs = keras.Input(shape=input_shape, name="features")
    x = SpecAugmentMask(hp.time_mask, hp.feature_mask, name="spec_augment")(inputs)
    regulariser = keras.regularizers.l2(hp.weight_decay)
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
    # Mean and max over time: the mean summarises the utterance, the max keeps short cues.
    x = layers.Concatenate(name="pool_time")(
        [layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)]
    )
    x = layers.Dense(
        hp.dense_units, activation="relu", kernel_regularizer=regulariser, name="dense"
    )(x)
    x = layers.Dropout(hp.dropout, name="dropout")(x)
    outputs = layers.Dense(n_labels, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="ser_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(hp.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=hp.label_smoothing),
        metrics=["accuracy"],
    )
    return model
