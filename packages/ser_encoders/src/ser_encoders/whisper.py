"""Whisper's audio encoder in numpy: the reference forward pass, and its weights.

Architecture (Radford et al. 2022; OpenAI's whisper/model.py ``AudioEncoder``)::

    log-mel (80, n_frames)
    → conv k3 pad 1 → GELU → conv k3 stride 2 pad 1 → GELU        (n_frames / 2, d)
    → + sinusoidal positions [: n_frames / 2]                     output 0, "embeddings"
    → n_layers pre-LayerNorm blocks:
          x + attention(LN(x)), then x + MLP(LN(x)) (d → 4d → d)  outputs 1 … n_layers, "block_i"
    → LayerNorm                                                   output n_layers + 1, "final_ln"

Every output is returned, so a caller can pick layers: the issue-18 probes found the middle
blocks best for emotion and the last one (tuned for transcription) worst. ``final_ln`` is what
the Whisper decoder attends to and what ``ctranslate2.models.Whisper.encode`` returns.

The encoder runs on the clip's own length (at most 30 s, 1500 positions), never padded to 30 s.
Computation is float32 (float16 weights are widened once, when the weights are built).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

N_MELS = 80  # input bands (ser_features.whisper_mel)
CONV_KERNEL = 3  # taps of both convolutions
CONV_STRIDE = 2  # the second convolution halves the frame rate: 100 → 50 positions per second
LAYER_NORM_EPSILON = 1e-5  # torch.nn.LayerNorm's default, which Whisper was trained with
MAX_TIMESCALE = 10_000  # the longest period of the sinusoidal positions, in positions

# Abramowitz & Stegun 7.1.26: erf(x) for x >= 0 with |error| <= 1.5e-7. numpy has no erf, the
# encoder's GELU is the exact (erf) one, and scipy is not a dependency of the serving image.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, elementwise, within 1.5e-7 (absolute) of the exact one; dtype kept."""
    z = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * z)
    polynomial = t * (
        _ERF_A[0] + t * (_ERF_A[1] + t * (_ERF_A[2] + t * (_ERF_A[3] + t * _ERF_A[4])))
    )
    return np.copysign(1.0 - polynomial * np.exp(-z * z), x).astype(x.dtype, copy=False)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x · Φ(x) = x/2 · (1 + erf(x / √2)), as torch.nn.functional.gelu."""
    return 0.5 * x * (1.0 + erf(x * np.float32(1 / np.sqrt(2))))


def sinusoids(length: int, channels: int, max_timescale: float = MAX_TIMESCALE) -> np.ndarray:
    """Whisper's fixed positional embedding: sines then cosines of geometrically spaced
    frequencies, from one cycle per 2π positions to one per 2π · max_timescale.

    Returns
    -------
    np.ndarray, shape (length, channels), float32
    """
    if channels % 2:
        raise ValueError(f"channels must be even, got {channels}")
    log_increment = np.log(max_timescale) / (channels // 2 - 1)
    inverse_timescales = np.exp(-log_increment * np.arange(channels // 2))
    angle = np.arange(length)[:, None] * inverse_timescales[None, :]
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1).astype(np.float32)


@dataclass(frozen=True)
class BlockWeights:
    """One pre-LN transformer block, float32, laid out for ``x @ weight`` (d = d_model).

    The fused query/key/value projection is (d, 3d): columns [0, d) query, [d, 2d) key,
    [2d, 3d) value, heads contiguous within each.
    """

    attention_norm_gamma: np.ndarray  # (d,)
    attention_norm_beta: np.ndarray  # (d,)
    qkv_weight: np.ndarray  # (d, 3d)
    qkv_bias: np.ndarray  # (3d,); the key part is zero (Whisper's key has no bias)
    out_weight: np.ndarray  # (d, d)
    out_bias: np.ndarray  # (d,)
    mlp_norm_gamma: np.ndarray  # (d,)
    mlp_norm_beta: np.ndarray  # (d,)
    mlp_in_weight: np.ndarray  # (d, 4d)
    mlp_in_bias: np.ndarray  # (4d,)
    mlp_out_weight: np.ndarray  # (4d, d)
    mlp_out_bias: np.ndarray  # (d,)


@dataclass(frozen=True)
class WhisperEncoderWeights:
    """The encoder's weights, float32, in the layout both implementations use.

    Convolution kernels are (kernel, in, out), as Keras' Conv1D stores them; linear weights are
    (in, out), as Keras' Dense does.
    """

    n_heads: int
    conv1_weight: np.ndarray  # (3, n_mels, d)
    conv1_bias: np.ndarray  # (d,)
    conv2_weight: np.ndarray  # (3, d, d)
    conv2_bias: np.ndarray  # (d,)
    positions: np.ndarray  # (max_positions, d): sinusoids(max_positions, d) in Whisper
    blocks: tuple[BlockWeights, ...]
    final_norm_gamma: np.ndarray  # (d,)
    final_norm_beta: np.ndarray  # (d,)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def d_model(self) -> int:
        return self.conv1_bias.shape[0]

    @property
    def n_mels(self) -> int:
        return self.conv1_weight.shape[1]

    @property
    def max_frames(self) -> int:
        """Longest input in log-mel frames: two per position (3000 = 30 s for Whisper)."""
        return CONV_STRIDE * self.positions.shape[0]

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the outputs, in order: embeddings, block_1 … block_n, final_ln."""
        return layer_names(self.n_layers)


def layer_names(n_layers: int) -> tuple[str, ...]:
    """``("embeddings", "block_1", …, f"block_{n_layers}", "final_ln")``: n_layers + 2 names."""
    return ("embeddings", *(f"block_{i}" for i in range(1, n_layers + 1)), "final_ln")


def _f32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def _linear(variables: Mapping[str, np.ndarray], scope: str) -> tuple[np.ndarray, np.ndarray]:
    """CTranslate2 stores linear weights (out, in); return (in, out) and the bias."""
    return _f32(variables[f"{scope}/weight"].T), _f32(variables[f"{scope}/bias"])


def encoder_weights(
    variables: Mapping[str, np.ndarray], prefix: str = "encoder/"
) -> WhisperEncoderWeights:
    """Build the encoder's weights from CTranslate2 WhisperSpec variables (``ct2.read_ct2_model``).

    Expects ``{prefix}conv1/weight`` (d, n_mels, 3), ``conv2/weight`` (d, d, 3), their biases,
    ``position_encodings/encodings`` (max_positions, d), ``num_heads``, ``layer_norm/{gamma,beta}``
    and, per block i, ``layer_{i}/self_attention/{layer_norm, linear_0 (qkv), linear_1 (out)}``
    and ``layer_{i}/ffn/{layer_norm, linear_0, linear_1}``.

    Raises
    ------
    KeyError : a variable is missing. ValueError : shapes disagree with each other.
    """
    n_layers = 0
    while f"{prefix}layer_{n_layers}/ffn/linear_0/weight" in variables:
        n_layers += 1
    blocks = []
    for i in range(n_layers):
        attention, ffn = f"{prefix}layer_{i}/self_attention", f"{prefix}layer_{i}/ffn"
        qkv_weight, qkv_bias = _linear(variables, f"{attention}/linear_0")
        out_weight, out_bias = _linear(variables, f"{attention}/linear_1")
        mlp_in_weight, mlp_in_bias = _linear(variables, f"{ffn}/linear_0")
        mlp_out_weight, mlp_out_bias = _linear(variables, f"{ffn}/linear_1")
        blocks.append(
            BlockWeights(
                attention_norm_gamma=_f32(variables[f"{attention}/layer_norm/gamma"]),
                attention_norm_beta=_f32(variables[f"{attention}/layer_norm/beta"]),
                qkv_weight=qkv_weight,
                qkv_bias=qkv_bias,
                out_weight=out_weight,
                out_bias=out_bias,
                mlp_norm_gamma=_f32(variables[f"{ffn}/layer_norm/gamma"]),
                mlp_norm_beta=_f32(variables[f"{ffn}/layer_norm/beta"]),
                mlp_in_weight=mlp_in_weight,
                mlp_in_bias=mlp_in_bias,
                mlp_out_weight=mlp_out_weight,
                mlp_out_bias=mlp_out_bias,
            )
        )
    weights = WhisperEncoderWeights(
        n_heads=int(variables[f"{prefix}num_heads"]),
        # (out, in, kernel) → (kernel, in, out)
        conv1_weight=_f32(np.transpose(variables[f"{prefix}conv1/weight"], (2, 1, 0))),
        conv1_bias=_f32(variables[f"{prefix}conv1/bias"]),
        conv2_weight=_f32(np.transpose(variables[f"{prefix}conv2/weight"], (2, 1, 0))),
        conv2_bias=_f32(variables[f"{prefix}conv2/bias"]),
        positions=_f32(variables[f"{prefix}position_encodings/encodings"]),
        blocks=tuple(blocks),
        final_norm_gamma=_f32(variables[f"{prefix}layer_norm/gamma"]),
        final_norm_beta=_f32(variables[f"{prefix}layer_norm/beta"]),
    )
    check_shapes(weights)
    return weights


def check_shapes(weights: WhisperEncoderWeights) -> None:
    """Raise ValueError unless every array has the shape the architecture implies."""
    d, n_mels = weights.d_model, weights.n_mels
    expected = {
        "conv1_weight": (CONV_KERNEL, n_mels, d), "conv2_weight": (CONV_KERNEL, d, d),
        "conv2_bias": (d,), "final_norm_gamma": (d,), "final_norm_beta": (d,),
    }  # fmt: skip
    problems = [
        f"{name} {getattr(weights, name).shape} != {shape}"
        for name, shape in expected.items()
        if getattr(weights, name).shape != shape
    ]
    if weights.positions.ndim != 2 or weights.positions.shape[1] != d:
        problems.append(f"positions {weights.positions.shape} is not (max_positions, {d})")
    if weights.n_heads < 1 or d % weights.n_heads:
        problems.append(f"d_model {d} is not a multiple of n_heads {weights.n_heads}")
    block_shapes = {
        "attention_norm_gamma": (d,), "attention_norm_beta": (d,), "qkv_weight": (d, 3 * d),
        "qkv_bias": (3 * d,), "out_weight": (d, d), "out_bias": (d,), "mlp_norm_gamma": (d,),
        "mlp_norm_beta": (d,), "mlp_out_bias": (d,),
    }  # fmt: skip
    for i, block in enumerate(weights.blocks):
        n_mlp = block.mlp_in_bias.shape[0]
        shapes = {**block_shapes, "mlp_in_weight": (d, n_mlp), "mlp_out_weight": (n_mlp, d)}
        problems += [
            f"block {i} {name} {getattr(block, name).shape} != {shape}"
            for name, shape in shapes.items()
            if getattr(block, name).shape != shape
        ]
    if problems:
        raise ValueError("inconsistent Whisper encoder weights: " + "; ".join(problems))


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis (biased variance, ε = 1e-5), shape kept."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(LAYER_NORM_EPSILON)) * gamma + beta


def conv1d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int = 1) -> np.ndarray:
    """Convolution over time with one zero frame of padding on each side.

    Parameters
    ----------
    x : (batch, n_frames, in)
    kernel : (3, in, out)

    Returns
    -------
    np.ndarray, shape (batch, (n_frames - 1) // stride + 1, out)
    """
    n_taps, n_in, n_out = kernel.shape
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))
    n_steps = (x.shape[1] - 1) // stride + 1
    # The three shifted views side by side: one matrix product instead of three.
    taps = [padded[:, k : k + stride * (n_steps - 1) + 1 : stride] for k in range(n_taps)]
    return np.concatenate(taps, axis=-1) @ kernel.reshape(n_taps * n_in, n_out) + bias


def self_attention(x: np.ndarray, block: BlockWeights, n_heads: int) -> np.ndarray:
    """Multi-head self-attention over all positions (no mask), (batch, T, d) → (batch, T, d)."""
    batch, n_steps, d = x.shape
    head_size = d // n_heads
    qkv = (x @ block.qkv_weight + block.qkv_bias).reshape(batch, n_steps, 3, n_heads, head_size)
    # Contiguous (3, batch, heads, T, head_size): numpy's stacked matmul only calls BLAS on
    # contiguous operands (strided views measured 20x slower).
    query, key, value = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4))
    scores = (query * np.float32(head_size**-0.5)) @ np.swapaxes(key, -1, -2)  # (b, h, T, T)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attention = scores / scores.sum(axis=-1, keepdims=True)
    mixed = np.swapaxes(attention @ value, 1, 2).reshape(batch, n_steps, d)
    return mixed @ block.out_weight + block.out_bias


def residual_block(x: np.ndarray, block: BlockWeights, n_heads: int) -> np.ndarray:
    """Pre-LN transformer block, (batch, T, d) → (batch, T, d)."""
    normed = layer_norm(x, block.attention_norm_gamma, block.attention_norm_beta)
    x = x + self_attention(normed, block, n_heads)
    normed = layer_norm(x, block.mlp_norm_gamma, block.mlp_norm_beta)
    hidden = gelu(normed @ block.mlp_in_weight + block.mlp_in_bias)
    return x + (hidden @ block.mlp_out_weight + block.mlp_out_bias)


def check_log_mel(log_mel_shape: tuple[int, ...], weights: WhisperEncoderWeights) -> None:
    """Raise ValueError unless the shape is (batch, n_mels, n_frames) with an even
    2 <= n_frames <= weights.max_frames."""
    if len(log_mel_shape) != 3 or log_mel_shape[1] != weights.n_mels:
        raise ValueError(
            f"expected a log-mel of shape (batch, {weights.n_mels}, n_frames), got {log_mel_shape}"
        )
    n_frames = log_mel_shape[2]
    if n_frames % CONV_STRIDE or not 0 < n_frames <= weights.max_frames:
        raise ValueError(
            f"n_frames must be even and in [2, {weights.max_frames}] "
            f"({weights.max_frames // 100} s), got {n_frames}"
        )


def encode(weights: WhisperEncoderWeights, log_mel: np.ndarray) -> np.ndarray:
    """Every layer's output for a batch of log-mel spectrograms.

    Parameters
    ----------
    log_mel : (batch, n_mels, n_frames) or (n_mels, n_frames), float32, from
        ``ser_features.whisper_log_mel``; n_frames even, at most ``weights.max_frames``

    Returns
    -------
    np.ndarray, shape (n_layers + 2, batch, n_frames // 2, d_model), float32, or
    (n_layers + 2, n_frames // 2, d_model) for an unbatched input. Along the first axis, in
    ``weights.layer_names`` order: 0 the embeddings (convolutions + positions), 1 … n_layers
    each block's output (the residual stream, before any LayerNorm), n_layers + 1 the final
    LayerNorm of the last block (what Whisper's decoder reads).
    """
    log_mel = np.asarray(log_mel, dtype=np.float32)
    unbatched = log_mel.ndim == 2
    if unbatched:
        log_mel = log_mel[None]
    check_log_mel(log_mel.shape, weights)
    x = np.swapaxes(log_mel, 1, 2)  # (batch, n_frames, n_mels): time first for the products
    x = gelu(conv1d(x, weights.conv1_weight, weights.conv1_bias))
    x = gelu(conv1d(x, weights.conv2_weight, weights.conv2_bias, stride=CONV_STRIDE))
    x = x + weights.positions[: x.shape[1]]
    outputs = [x]
    for block in weights.blocks:
        x = residual_block(x, block, weights.n_heads)
        outputs.append(x)
    outputs.append(layer_norm(x, weights.final_norm_gamma, weights.final_norm_beta))
    stacked = np.stack(outputs)
    return stacked[:, 0] if unbatched else stacked
