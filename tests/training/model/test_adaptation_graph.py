"""The speaker-adapted head in the Model v3 graph (issue 24): ``speaker_features`` are the
statistics the numpy encoder gives, ``adapted_probabilities`` the numpy formula, and the plain
head is untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from ser_encoders import EncoderSpec, load_whisper_encoder
from ser_features.model_metadata import (
    ADAPTED_OUTPUT_NAME,
    OUTPUT_NAME,
    PROFILE_MEAN_NAME,
    PROFILE_STD_NAME,
    SPEAKER_FEATURES_NAME,
    ModelMetadata,
)
from ser_training.features.encoder_cache import pooled_layers
from ser_training.model.adaptation_graph import AdaptationGraphError, add_speaker_features_for
from ser_training.model.probe import pooled
from tests.conftest import TINY_V3_LAYERS, TINY_V3_POOL
from tests.support.v3_model import log_mel_windows

pytestmark = pytest.mark.training


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _weights(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}


def test_speaker_features_are_the_numpy_encoder_s_per_layer_mean_and_std(
    tiny_v3_adapted_model: Path, tiny_encoder: tuple[EncoderSpec, Path]
) -> None:
    spec, path = tiny_encoder
    windows = log_mel_windows(3, seed=5)
    (features,) = _session(tiny_v3_adapted_model).run(
        [SPEAKER_FEATURES_NAME], {"features": windows}
    )
    # The reference: every layer from the numpy encoder, pooled as training's cache pools them,
    # the head's layers selected, then mean and std over steps (the linear probe's statistics).
    layers = pooled_layers(load_whisper_encoder(spec, path), windows, TINY_V3_POOL)
    expected = pooled(layers[:, list(TINY_V3_LAYERS)])
    assert features.shape == expected.shape == (3, len(TINY_V3_LAYERS) * 2 * spec.d_model)
    np.testing.assert_allclose(features, expected, atol=2e-3, rtol=2e-3)


def test_adapted_probabilities_follow_the_formula_and_the_plain_head_is_unchanged(
    tiny_v3_model: Path, tiny_v3_adapted_model: Path
) -> None:
    windows = log_mel_windows(4, seed=11)
    session = _session(tiny_v3_adapted_model)
    # A plain request feeds only the features: the profile inputs have defaults.
    assert [node.name for node in session.get_inputs()] == ["features"]
    plain, features = session.run([OUTPUT_NAME, SPEAKER_FEATURES_NAME], {"features": windows})
    (original,) = _session(tiny_v3_model).run([OUTPUT_NAME], {"features": windows})
    np.testing.assert_allclose(plain, original, atol=1e-6)

    proto = onnx.load(str(tiny_v3_adapted_model))
    weights = _weights(proto)
    w, b = weights["speaker_adaptation/weights"], weights["speaker_adaptation/bias"]
    inverse_t = float(weights["speaker_adaptation/inverse_temperature"])
    rng = np.random.default_rng(0)
    mean = rng.normal(0, 1, (1, features.shape[1])).astype(np.float32)
    std = rng.uniform(0.5, 2.0, (1, features.shape[1])).astype(np.float32)
    (adapted,) = session.run(
        [ADAPTED_OUTPUT_NAME], {"features": windows, PROFILE_MEAN_NAME: mean, PROFILE_STD_NAME: std}
    )
    logits = (((features - mean) / std) @ w + b) * inverse_t
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(adapted, expected, atol=1e-5)
    assert not np.allclose(adapted, plain, atol=1e-3)  # a different head answers


def test_a_graph_without_an_encoder_section_is_refused(tiny_v3_model: Path) -> None:
    proto = onnx.load(str(tiny_v3_model))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    import dataclasses

    with pytest.raises(AdaptationGraphError, match="not a Model v3 graph"):
        add_speaker_features_for(proto, dataclasses.replace(metadata, encoder=None))
    add_speaker_features_for(proto, metadata)
    with pytest.raises(AdaptationGraphError, match="already has"):
        add_speaker_features_for(proto, metadata)
