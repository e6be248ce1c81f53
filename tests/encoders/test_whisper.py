"""The numpy Whisper encoder on a tiny random model, against ctranslate2 and its own invariants."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import ctranslate2  # test-only dependency: the weights' own runtime is the reference
import numpy as np
import pytest

from ser_encoders import (
    WhisperEncoderWeights,
    encode,
    encoder_weights,
    layer_names,
    read_ct2_model,
    sinusoids,
)
from ser_encoders.whisper import erf, gelu
from ser_features import whisper_log_mel
from tests.support.audio import harmonic_tone
from tests.support.tiny_encoder import random_whisper_weights, relative_error

TOLERANCE = 1e-4  # relative, as the issue asks of the real weights


def log_mel(duration_s: float = 1.0, seed: int = 0) -> np.ndarray:
    return whisper_log_mel(harmonic_tone(duration_s, seed=seed))


def test_the_final_output_equals_ctranslate2_on_the_tiny_random_model(
    tiny_model_dir: Path, tiny_weights: WhisperEncoderWeights
) -> None:
    reference = ctranslate2.models.Whisper(
        str(tiny_model_dir), device="cpu", compute_type="float32"
    )
    for duration_s in (0.5, 1.37):
        mel = log_mel(duration_s, seed=4)[None]
        expected = np.array(reference.encode(ctranslate2.StorageView.from_array(mel)))
        ours = encode(tiny_weights, mel)
        assert relative_error(ours[-1], expected) < TOLERANCE


def test_every_layer_is_returned_in_order_for_the_clip_length(
    tiny_weights: WhisperEncoderWeights,
) -> None:
    mel = log_mel(1.0)
    outputs = encode(tiny_weights, mel)
    assert outputs.shape == (2 + 2, 50, 64)  # embeddings, block_1, block_2, final_ln
    assert outputs.dtype == np.float32
    assert tiny_weights.layer_names == ("embeddings", "block_1", "block_2", "final_ln")
    assert layer_names(4) == ("embeddings", "block_1", "block_2", "block_3", "block_4", "final_ln")
    # The final LayerNorm standardises each position before its gain and bias.
    normalised = (outputs[-1] - tiny_weights.final_norm_beta) / tiny_weights.final_norm_gamma
    np.testing.assert_allclose(normalised.mean(axis=-1), 0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(axis=-1), 1, atol=1e-3)


def test_a_batch_gives_each_clip_its_own_answer(tiny_weights: WhisperEncoderWeights) -> None:
    first, second = log_mel(0.8, seed=1), log_mel(0.8, seed=2)
    batched = encode(tiny_weights, np.stack([first, second]))
    assert batched.shape == (4, 2, 40, 64)
    np.testing.assert_allclose(batched[:, 0], encode(tiny_weights, first), atol=1e-5)
    np.testing.assert_allclose(batched[:, 1], encode(tiny_weights, second), atol=1e-5)


def test_the_stem_sees_three_frames_and_attention_the_whole_clip(
    tiny_weights: WhisperEncoderWeights,
) -> None:
    """Position p of the embeddings depends on frames 2p - 2 … 2p + 2 only (two 3-tap
    convolutions, the second of stride 2); every block mixes all positions."""
    mel = log_mel(1.0)
    changed = mel.copy()
    changed[:, 60:] += 0.5  # frames from 60 on: positions from 29 on see it
    before, after = encode(tiny_weights, mel), encode(tiny_weights, changed)
    np.testing.assert_array_equal(before[0, :29], after[0, :29])
    assert not np.allclose(before[0, 29], after[0, 29])
    assert np.all(np.any(before[1, :29] != after[1, :29], axis=-1))  # every position moved


def test_positions_are_sinusoids_sliced_to_the_clip(tiny_weights: WhisperEncoderWeights) -> None:
    table = sinusoids(1500, 64)
    np.testing.assert_allclose(tiny_weights.positions, table, atol=1e-3)  # stored as float16
    assert table[0, :32].tolist() == [0.0] * 32 and table[0, 32:].tolist() == [1.0] * 32
    np.testing.assert_allclose(table[7, 0], math.sin(7.0), atol=1e-6)  # fastest: 1 rad/position
    np.testing.assert_allclose(table[7, 31], math.sin(7.0 / 10_000), atol=1e-7)  # slowest


@pytest.mark.parametrize("n_frames", [0, 3, 3002])
def test_odd_empty_or_over_30_s_inputs_are_refused(
    tiny_weights: WhisperEncoderWeights, n_frames: int
) -> None:
    with pytest.raises(ValueError, match="even and in"):
        encode(tiny_weights, np.zeros((80, n_frames), np.float32))


def test_the_longest_input_is_30_s(tiny_weights: WhisperEncoderWeights) -> None:
    assert tiny_weights.max_frames == 3000
    assert encode(tiny_weights, np.zeros((80, 3000), np.float32)).shape == (4, 1500, 64)
    with pytest.raises(ValueError, match=r"batch, 80, n_frames"):
        encode(tiny_weights, np.zeros((64, 100), np.float32))


def test_erf_and_exact_gelu_match_the_standard_library() -> None:
    x64 = np.linspace(-8, 8, 20_001)
    assert np.max(np.abs(erf(x64) - [math.erf(v) for v in x64])) <= 1.5e-7  # A&S 7.1.26's bound
    # In float32, as the encoder calls them: 1 - p·exp(-z²) cancels near 0 and leaves a few
    # float32 ulps of 1 (about 5e-7), still far below the 1e-4 the encoder must meet.
    x = x64.astype(np.float32)
    exact_erf = np.array([math.erf(v) for v in x.astype(np.float64)])
    assert np.max(np.abs(erf(x) - exact_erf)) < 1e-6
    exact_gelu = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)])
    assert np.max(np.abs(gelu(x) - exact_gelu)) < 2e-6


def test_inconsistent_weights_are_refused() -> None:
    variables = random_whisper_weights(n_layers=1, d_model=32, n_heads=4)
    variables["encoder/layer_0/ffn/linear_1/weight"] = variables[
        "encoder/layer_0/ffn/linear_1/weight"
    ][:, :100]
    with pytest.raises(ValueError, match="mlp_out_weight"):
        encoder_weights(variables)
    incomplete = random_whisper_weights(n_layers=1, d_model=32, n_heads=4)
    del incomplete["encoder/layer_norm/gamma"]
    with pytest.raises(KeyError):
        encoder_weights(incomplete)
    heads = random_whisper_weights(n_layers=1, d_model=32, n_heads=5)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        encoder_weights(heads)


def test_float16_weights_are_widened_once(tmp_path: Path) -> None:
    from ser_encoders import write_ct2_model

    path = write_ct2_model(tmp_path / "model.bin", random_whisper_weights(n_layers=1))
    stored = read_ct2_model(path, prefix="encoder/").variables
    weights = encoder_weights(stored)
    assert stored["encoder/conv1/weight"].dtype == np.float16
    arrays = [getattr(weights, f.name) for f in dataclasses.fields(weights) if f.name != "blocks"]
    arrays += [getattr(b, f.name) for b in weights.blocks for f in dataclasses.fields(b)]
    assert all(a.dtype == np.float32 for a in arrays if isinstance(a, np.ndarray))
