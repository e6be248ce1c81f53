"""The Keras encoder equals the numpy one, and exports to ONNX with a dynamic frame axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ser_encoders import WhisperEncoderWeights, encode
from ser_features import whisper_log_mel
from tests.support.audio import harmonic_tone
from tests.support.tiny_encoder import relative_error

pytestmark = pytest.mark.training
keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from ser_encoders.keras_whisper import (  # noqa: E402
    INPUT_NAME,
    build_keras_encoder,
    encoder_to_onnx,
)

TOLERANCE = 1e-4  # relative (max |a - b| / max |b|), per output


def batch(n_frames_s: float, seed: int) -> np.ndarray:
    clips = [whisper_log_mel(harmonic_tone(n_frames_s, seed=seed + i)) for i in range(2)]
    return np.stack(clips)


@pytest.fixture(scope="module")
def keras_encoder(tiny_weights: WhisperEncoderWeights):
    return build_keras_encoder(tiny_weights)


def test_keras_equals_numpy_for_every_output_and_length(
    keras_encoder, tiny_weights: WhisperEncoderWeights
) -> None:
    for duration_s in (0.4, 1.21):
        mels = batch(duration_s, seed=5)
        expected = encode(tiny_weights, mels)
        outputs = keras_encoder(mels, training=False)
        assert len(outputs) == len(tiny_weights.layer_names) == 4
        for i, output in enumerate(outputs):
            assert tuple(output.shape) == expected[i].shape
            assert relative_error(np.asarray(output), expected[i]) < TOLERANCE, i


def test_the_encoder_is_frozen_unless_asked(tiny_weights: WhisperEncoderWeights) -> None:
    assert build_keras_encoder(tiny_weights).trainable_weights == []
    trainable = build_keras_encoder(tiny_weights, trainable=True)
    n_trainable = sum(int(np.prod(w.shape)) for w in trainable.trainable_weights)
    d, n_layers = tiny_weights.d_model, tiny_weights.n_layers
    per_block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    stem = 3 * 80 * d + d + 3 * d * d + d
    assert n_trainable == stem + n_layers * per_block + 2 * d  # positions stay fixed


def test_onnx_export_equals_keras_at_any_length(
    keras_encoder, tiny_weights: WhisperEncoderWeights, tmp_path: Path
) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    path = tmp_path / "encoder.onnx"
    proto = encoder_to_onnx(keras_encoder, path)
    (graph_input,) = proto.graph.input
    assert graph_input.name == INPUT_NAME
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[1].dim_value == 80 and not dims[2].dim_value  # the frame axis is symbolic
    names = [output.name for output in proto.graph.output]
    assert names == list(tiny_weights.layer_names)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for duration_s in (0.4, 2.03):  # two lengths through one graph
        mels = batch(duration_s, seed=9)
        expected = keras_encoder(mels, training=False)
        for name, output in zip(names, expected, strict=True):
            (actual,) = session.run([name], {INPUT_NAME: mels})
            assert relative_error(actual, np.asarray(output)) < TOLERANCE, name
