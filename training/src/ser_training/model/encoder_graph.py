"""The served Model v3 graph: Whisper log-mel windows → frozen pretrained encoder → head.

Training never runs the encoder: the head trains on cached encoder outputs
(:mod:`ser_training.features.encoder_cache`). For export, the same computation is put in front
of the trained head so that one ONNX graph takes the product's usual input, features
(batch, n_frames, 80) Whisper log-mel, and answers probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from ser_encoders.keras_whisper import build_keras_encoder
from ser_encoders.whisper import WhisperEncoderWeights


def encoder_serving_model(
    head: keras.Model, weights: WhisperEncoderWeights, selected: Sequence[int], pool: int,
    n_frames: int,
) -> keras.Model:  # fmt: skip
    """One model: features (batch, n_frames, n_mels) → probabilities (batch, n_labels).

    ``selected`` are indices into the encoder's outputs (embeddings, block_1 … block_n,
    final_ln) and ``pool`` the steps averaged into one, as the encoder cache stored them; the
    head is the trained model whose input is (batch, len(selected), n_steps, d_model).
    """
    encoder = build_keras_encoder(weights, trainable=False)
    features = keras.Input((n_frames, weights.n_mels), name="features")
    log_mel = layers.Permute((2, 1), name="mel_first")(features)  # the encoder's layout
    outputs = encoder(log_mel)
    pooled = [
        layers.AveragePooling1D(pool, name=f"pool_layer_{i}")(outputs[i])
        if pool > 1
        else outputs[i]
        for i in selected
    ]
    stacked = layers.Lambda(lambda xs: keras.ops.stack(xs, axis=1), name="stack_layers")(pooled)
    probabilities = head(stacked, training=False)
    return keras.Model(features, probabilities, name="ser_encoder_model")
