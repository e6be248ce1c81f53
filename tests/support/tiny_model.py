"""A tiny but real ONNX emotion model, built with onnx.helper (no TensorFlow).

Architecture: mean over time of the feature matrix → linear layer → softmax, with seeded
random weights. Good enough to exercise loading, metadata checks, batching and the HTTP
contract; its predictions mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ser_features import EMOTIONS, FeatureConfig
from ser_features.model_metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata

# A small configuration keeps test feature extraction cheap (1-second windows).
TINY_CONFIG = FeatureConfig(window_s=1.0, window_hop_s=0.5, n_mels=32, n_mfcc=13)


def tiny_metadata(
    config: FeatureConfig = TINY_CONFIG, labels=EMOTIONS, calibration: dict | None = None
) -> ModelMetadata:
    """Metadata of a tiny model; ``calibration`` as ``ser.calibration`` carries it."""
    return ModelMetadata(
        labels=tuple(labels),
        feature_config=config,
        model_version="tiny-test-0",
        metrics={"protocol": "none: random weights for tests"},
        training_data={"corpora": []},
        license="test only",
        calibration=dict(calibration or {}),
    )


def build_tiny_model(
    path: Path,
    metadata: ModelMetadata | None = None,
    *,
    seed: int = 0,
    logits: np.ndarray | None = None,
) -> Path:
    """Write a tiny ONNX model with ``metadata`` to ``path`` and return the path.

    Input ``features``: float32 (batch, n_frames, n_features); output ``probabilities``:
    float32 (batch, n_labels). With ``logits`` (shape (n_labels,)) the model ignores its input
    and answers softmax(logits) for every window: a known distribution for tests of what the
    answers mean.
    """
    metadata = metadata or tiny_metadata()
    n_frames, n_features = metadata.feature_config.input_shape
    n_labels = len(metadata.labels)
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1.0, size=(n_features, n_labels)).astype(np.float32)
    bias = rng.normal(0, 0.1, size=(n_labels,)).astype(np.float32)
    if logits is not None:
        weights = np.zeros_like(weights)
        bias = np.asarray(logits, dtype=np.float32).reshape(n_labels)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("ReduceMean", [INPUT_NAME, "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "weights"], ["logits_nobias"]),
            helper.make_node("Add", ["logits_nobias", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], [OUTPUT_NAME], axis=-1),
        ],
        name="tiny_ser",
        inputs=[
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, [None, n_frames, n_features]
            )
        ],
        outputs=[helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, n_labels])],
        initializer=[
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    helper.set_model_props(model, metadata.to_properties())
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
