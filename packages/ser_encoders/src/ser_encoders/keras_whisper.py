"""Whisper's audio encoder as a Keras 3 model, from the same weights as the numpy reference.

Imports TensorFlow and Keras: only the training job (and its tests) import this module; the
API and the batch job run the exported ONNX graph or :func:`ser_encoders.whisper.encode`.

Input: ``log_mel``, shape (batch, n_mels, n_frames) float32 — the layout of
``ser_features.whisper_log_mel`` with a batch axis, of Whisper and of ctranslate2 — with any
even n_frames up to 3000 (the frame axis is dynamic, in Keras and in the ONNX export).
Outputs: a list of n_layers + 2 tensors, each (batch, n_frames // 2, d_model), in
:func:`ser_encoders.whisper.layer_names` order (embeddings, block_1 … block_n, final_ln), equal
to :func:`ser_encoders.whisper.encode`'s first axis.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from ser_encoders.graph import ENCODER_SCOPE
from ser_encoders.whisper import (
    CONV_KERNEL,
    CONV_STRIDE,
    LAYER_NORM_EPSILON,
    WhisperEncoderWeights,
    layer_names,
)

INPUT_NAME = "log_mel"
ONNX_OPSET = 17  # as the training job's export (Erf is an ONNX op since opset 9)


def exact_gelu(x):
    """GELU with erf, as Whisper. Spelt out because Keras' default ``gelu`` is the tanh
    approximation and its exact one lowers to TensorFlow's Erfc, which tf2onnx cannot convert."""
    return 0.5 * x * (1.0 + ops.erf(x * (1 / np.sqrt(2))))


@keras.saving.register_keras_serializable(package="ser_encoders")
class AddPositions(layers.Layer):
    """Adds the first n_steps rows of a fixed (max_positions, d) table: (b, T, d) → (b, T, d)."""

    def __init__(self, max_positions: int, d_model: int, **kwargs):
        super().__init__(**kwargs)
        self.max_positions = max_positions
        self.d_model = d_model
        self.table = self.add_weight(
            name="positions", shape=(max_positions, d_model), initializer="zeros",
            trainable=False,
        )  # fmt: skip

    def call(self, x):
        return x + self.table[: ops.shape(x)[1]]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_positions": self.max_positions,
            "d_model": self.d_model,
        }


@keras.saving.register_keras_serializable(package="ser_encoders")
class WhisperSelfAttention(layers.Layer):
    """Multi-head self-attention with a fused query/key/value projection, no mask:
    (b, T, d) → (b, T, d)."""

    def __init__(self, d_model: int, n_heads: int, **kwargs):
        super().__init__(**kwargs)
        self.d_model = d_model
        self.n_heads = n_heads
        self.qkv = layers.Dense(3 * d_model, name="qkv")
        self.out = layers.Dense(d_model, name="out")

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.out.build((*input_shape[:-1], self.d_model))
        super().build(input_shape)

    def call(self, x):
        batch, n_steps = ops.shape(x)[0], ops.shape(x)[1]
        head_size = self.d_model // self.n_heads
        qkv = ops.reshape(self.qkv(x), (batch, n_steps, 3, self.n_heads, head_size))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, b, heads, T, head_size)
        query, key, value = qkv[0], qkv[1], qkv[2]
        scores = ops.matmul(query * (head_size**-0.5), ops.transpose(key, (0, 1, 3, 2)))
        mixed = ops.matmul(ops.softmax(scores, axis=-1), value)  # (b, heads, T, head_size)
        mixed = ops.reshape(ops.transpose(mixed, (0, 2, 1, 3)), (batch, n_steps, self.d_model))
        return self.out(mixed)

    def get_config(self) -> dict:
        return {**super().get_config(), "d_model": self.d_model, "n_heads": self.n_heads}


def build_keras_encoder(
    weights: WhisperEncoderWeights, trainable: bool = False, name: str = ENCODER_SCOPE
) -> keras.Model:
    """The encoder as a functional Keras model with ``weights`` loaded.

    ``trainable=False`` (the default) freezes it: issue 18 trains a head on a frozen encoder.
    Layer names are stable (``conv1``, ``block_1_attention``, …) so a head can be built on
    ``model.outputs`` and the whole exported as one graph; ``name`` is the scope by which
    :func:`ser_encoders.graph.graph_sha256` finds the encoder's weights in that graph.
    """
    d, n_heads = weights.d_model, weights.n_heads
    log_mel = keras.Input((weights.n_mels, None), name=INPUT_NAME)
    x = layers.Permute((2, 1), name="time_first")(log_mel)  # (b, n_frames, n_mels)
    # Explicit one-frame zero padding: Keras' "same" pads a stride-2 convolution only on the
    # right, Whisper pads both sides.
    x = layers.ZeroPadding1D(1, name="conv1_pad")(x)
    conv1 = layers.Conv1D(d, CONV_KERNEL, activation=exact_gelu, name="conv1")
    x = conv1(x)
    x = layers.ZeroPadding1D(1, name="conv2_pad")(x)
    conv2 = layers.Conv1D(d, CONV_KERNEL, strides=CONV_STRIDE, activation=exact_gelu, name="conv2")
    x = conv2(x)
    positions = AddPositions(*weights.positions.shape, name="embeddings")
    x = positions(x)
    outputs = [x]
    assigned: list[tuple[layers.Layer, list[np.ndarray]]] = [
        (conv1, [weights.conv1_weight, weights.conv1_bias]),
        (conv2, [weights.conv2_weight, weights.conv2_bias]),
        (positions, [weights.positions]),
    ]
    for i, block in enumerate(weights.blocks, start=1):
        attention_norm = layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name=f"block_{i}_attention_norm"
        )
        attention = WhisperSelfAttention(d, n_heads, name=f"block_{i}_attention")
        mlp_norm = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"block_{i}_mlp_norm")
        mlp_in = layers.Dense(
            block.mlp_in_bias.shape[0], activation=exact_gelu, name=f"block_{i}_mlp_in"
        )
        mlp_out = layers.Dense(d, name=f"block_{i}_mlp_out")
        x = layers.Add(name=f"block_{i}_attention_residual")([x, attention(attention_norm(x))])
        x = layers.Add(name=f"block_{i}")([x, mlp_out(mlp_in(mlp_norm(x)))])
        outputs.append(x)
        assigned += [
            (attention_norm, [block.attention_norm_gamma, block.attention_norm_beta]),
            (attention, [block.qkv_weight, block.qkv_bias, block.out_weight, block.out_bias]),
            (mlp_norm, [block.mlp_norm_gamma, block.mlp_norm_beta]),
            (mlp_in, [block.mlp_in_weight, block.mlp_in_bias]),
            (mlp_out, [block.mlp_out_weight, block.mlp_out_bias]),
        ]
    final_norm = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="final_ln")
    outputs.append(final_norm(x))
    assigned.append((final_norm, [weights.final_norm_gamma, weights.final_norm_beta]))
    model = keras.Model(log_mel, outputs, name=name)
    for layer, values in assigned:
        layer.set_weights(values)
    model.trainable = trainable
    return model


def encoder_to_onnx(model: keras.Model, path: str | Path | None = None):
    """Export the encoder (or any model with the same ``log_mel`` input) to ONNX.

    ``tf2onnx.convert.from_keras`` does not work with Keras 3, so the model is wrapped in a
    ``tf.function`` with a named ``tf.TensorSpec`` of shape (None, n_mels, None): batch and
    frame axes stay dynamic. The graph's outputs are renamed to :func:`layer_names`.

    Returns
    -------
    onnx.ModelProto, also saved to ``path`` when given.
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    n_mels = model.inputs[0].shape[1]
    spec = (tf.TensorSpec((None, n_mels, None), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(log_mel):
        return model(log_mel, training=False)

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=ONNX_OPSET)
    names = layer_names(len(model.outputs) - 2)
    if len(proto.graph.output) != len(names):
        raise ValueError(f"expected {len(names)} outputs, the graph has {len(proto.graph.output)}")
    for output, new_name in zip(proto.graph.output, names, strict=True):
        for node in proto.graph.node:
            node.output[:] = [new_name if out == output.name else out for out in node.output]
            node.input[:] = [new_name if inp == output.name else inp for inp in node.input]
        output.name = new_name
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, str(path))
    return proto
