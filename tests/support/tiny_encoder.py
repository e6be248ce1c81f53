"""A tiny, randomly initialised Whisper of the real architecture, in CTranslate2's layout.

Most encoder tests need no real weights: they write this model at test time. The decoder is
tiny too (a handful of tokens) but complete, so ``ctranslate2.models.Whisper`` loads the
directory and can serve as the independent reference for the encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ser_encoders import sinusoids, write_ct2_model

N_MELS = 80
MAX_POSITIONS = 1500  # encoder positions, as every Whisper size (30 s)
# Tokens ctranslate2's Whisper looks up by name, then plain ones. Real vocabularies are 51,864+.
TINY_VOCABULARY = (
    "<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|nocaptions|>",
    "a", "b", "c", "d",
)  # fmt: skip
TEXT_CONTEXT = 16  # decoder positions (448 in Whisper)
TINY_SHAPE = {"n_layers": 2, "d_model": 64, "n_heads": 4}  # the tests' usual encoder


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(np.float16)


def _norm(rng: np.random.Generator, scope: str, d: int) -> dict[str, np.ndarray]:
    return {
        f"{scope}/gamma": (1 + 0.1 * rng.standard_normal(d)).astype(np.float16),
        f"{scope}/beta": _normal(rng, (d,), 0.1),
    }


def _linear(rng: np.random.Generator, scope: str, n_out: int, n_in: int) -> dict[str, np.ndarray]:
    """CTranslate2 layout: weight (out, in); variance-preserving scale."""
    return {
        f"{scope}/weight": _normal(rng, (n_out, n_in), n_in**-0.5),
        f"{scope}/bias": _normal(rng, (n_out,), 0.1),
    }


def _attention(rng: np.random.Generator, scope: str, d: int, fused: int) -> dict[str, np.ndarray]:
    """linear_0 projects to ``fused`` × d (3: q, k, v; 1: q only, for cross-attention)."""
    out = {
        **_norm(rng, f"{scope}/layer_norm", d),
        **_linear(rng, f"{scope}/linear_0", fused * d, d),
    }
    if fused == 3:
        out[f"{scope}/linear_0/bias"][d : 2 * d] = 0  # Whisper's key projection has no bias
    return out


def _ffn(rng: np.random.Generator, scope: str, d: int) -> dict[str, np.ndarray]:
    return {
        **_norm(rng, f"{scope}/layer_norm", d),
        **_linear(rng, f"{scope}/linear_0", 4 * d, d),
        **_linear(rng, f"{scope}/linear_1", d, 4 * d),
    }


def random_whisper_weights(
    n_layers: int = 2, d_model: int = 64, n_heads: int = 4, seed: int = 0
) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``WhisperSpec`` (revision 3), float16 as the pinned
    tiny.en file, for an encoder of ``n_layers`` blocks and a one-block decoder.

    Scalars (``num_heads``, flags) are 0-d int8/int16 arrays, as CTranslate2 stores them.
    """
    rng = np.random.default_rng(seed)
    d = d_model
    variables: dict[str, np.ndarray] = {
        "encoder/conv1/weight": _normal(rng, (d, N_MELS, 3), (3 * N_MELS) ** -0.5),
        "encoder/conv1/bias": _normal(rng, (d,), 0.1),
        "encoder/conv2/weight": _normal(rng, (d, d, 3), (3 * d) ** -0.5),
        "encoder/conv2/bias": _normal(rng, (d,), 0.1),
        "encoder/position_encodings/encodings": sinusoids(MAX_POSITIONS, d).astype(np.float16),
        "encoder/num_heads": np.array(n_heads, np.int16),
        **_norm(rng, "encoder/layer_norm", d),
    }
    for i in range(n_layers):
        variables |= _attention(rng, f"encoder/layer_{i}/self_attention", d, fused=3)
        variables |= _linear(rng, f"encoder/layer_{i}/self_attention/linear_1", d, d)
        variables |= _ffn(rng, f"encoder/layer_{i}/ffn", d)
    n_vocab = len(TINY_VOCABULARY)
    variables |= {
        "decoder/embeddings/weight": _normal(rng, (n_vocab, d), 1.0),
        "decoder/position_encodings/encodings": _normal(rng, (TEXT_CONTEXT, d), 0.1),
        "decoder/num_heads": np.array(n_heads, np.int16),
        "decoder/activation": np.array(3, np.int8),  # CTranslate2's ActivationType::GELU
        "decoder/alibi": np.array(0, np.int8),
        "decoder/pre_norm": np.array(1, np.int8),
        "decoder/scale_embeddings": np.array(0, np.int8),
        "decoder/start_from_zero_embedding": np.array(0, np.int8),
        "decoder/alignment_heads": np.array(1, np.int16),
        "decoder/alignment_layer": np.array(-1, np.int16),
        **_norm(rng, "decoder/layer_norm", d),
        **_attention(rng, "decoder/layer_0/self_attention", d, fused=3),
        **_linear(rng, "decoder/layer_0/self_attention/linear_1", d, d),
        **_attention(rng, "decoder/layer_0/attention", d, fused=1),
        **_linear(rng, "decoder/layer_0/attention/linear_1", 2 * d, d),  # fused key, value
        **_linear(rng, "decoder/layer_0/attention/linear_2", d, d),
        **_ffn(rng, "decoder/layer_0/ffn", d),
    }
    return variables


def write_tiny_whisper(directory: Path, **kwargs) -> Path:
    """Write a model directory ``ctranslate2.models.Whisper`` loads: model.bin (from
    :func:`random_whisper_weights` with ``kwargs``), vocabulary.txt and config.json.

    Returns the model.bin path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = write_ct2_model(
        directory / "model.bin",
        random_whisper_weights(**kwargs),
        aliases={"decoder/projection/weight": "decoder/embeddings/weight"},
    )
    (directory / "vocabulary.txt").write_text("\n".join(TINY_VOCABULARY) + "\n")
    config = {"suppress_ids": [], "suppress_ids_begin": [], "lang_ids": [],
              "alignment_heads": [[0, 0]]}  # fmt: skip
    (directory / "config.json").write_text(json.dumps(config) + "\n")
    return path


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual − expected| / max |expected|: the issue's "within 1e-4 relative" for
    encoder outputs (elementwise ratios are meaningless for values near zero)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))
