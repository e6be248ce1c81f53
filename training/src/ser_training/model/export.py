"""Keras → ONNX via tf2onnx, metadata embedding, and the Keras-vs-ONNX Runtime parity gate.

``tf2onnx.convert.from_keras`` does not work with Keras 3, so the model is wrapped in a
``tf.function`` with a named ``tf.TensorSpec`` (batch dimension None) and converted with
``from_function``; the graph's output is then renamed to the contract's ``probabilities``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

from ser_encoders.graph import graph_sha256
from ser_features.model_metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata

ONNX_OPSET = 17
PARITY_TOLERANCE = 1e-4  # max |Keras − ONNX Runtime| probability difference allowed


class ParityError(RuntimeError):
    """The exported ONNX model does not reproduce the Keras model's outputs."""


def keras_to_onnx(model, input_shape: tuple[int, int]) -> onnx.ModelProto:
    """Convert a Keras model taking (batch, n_frames, n_features) to an ONNX graph."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, *input_shape), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(features):
        return model(features, training=False)

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=ONNX_OPSET)
    _rename_output(proto, OUTPUT_NAME)
    onnx.checker.check_model(proto)
    return proto


def _rename_output(proto: onnx.ModelProto, new_name: str) -> None:
    (output,) = proto.graph.output
    _rename_producer(proto, output.name, new_name)
    output.name = new_name


def embed_metadata(proto: onnx.ModelProto, metadata: ModelMetadata) -> None:
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, metadata.to_properties())
    proto.producer_name = "ser-train"
    proto.doc_string = "Speech emotion recognition CNN; see the ser.* metadata and the model card."


def check_parity(
    model, proto: onnx.ModelProto, batch: np.ndarray, temperature: float | None = None
) -> float:
    """Run the same real batch through Keras and ONNX Runtime; raise if they differ. With a
    ``temperature`` the graph is expected to be calibrated by it.

    Returns
    -------
    float : the maximum absolute difference of the probabilities.
    """
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    expected = np.asarray(model(batch, training=False))
    if temperature is not None:
        from ser_training.calibration.temperature import tempered

        expected = tempered(expected, temperature)
    actual = session.run([OUTPUT_NAME], {INPUT_NAME: batch.astype(np.float32)})[0]
    difference = float(np.max(np.abs(expected - actual)))
    if not difference <= PARITY_TOLERANCE:
        raise ParityError(
            f"Keras and ONNX Runtime disagree by {difference:.2e} (> {PARITY_TOLERANCE:.0e}); "
            "the export is not trustworthy"
        )
    return difference


def with_graph_hash(metadata: ModelMetadata, proto: onnx.ModelProto) -> ModelMetadata:
    """``metadata`` with its encoder section's ``graph_sha256`` computed from ``proto``, the
    graph as it is saved (after calibration or any other rewrite); unchanged for a model
    without a pretrained encoder. Serving recomputes it and refuses a graph that differs."""
    if metadata.encoder is None:
        return metadata
    encoder = dataclasses.replace(metadata.encoder, graph_sha256=graph_sha256(proto))
    return dataclasses.replace(metadata, encoder=encoder)


def write_metadata(proto: onnx.ModelProto, metadata: ModelMetadata, onnx_path: Path) -> None:
    """Embed ``metadata`` and save ``onnx_path`` and its JSON sidecar (same content): the one
    place both files are written, so they cannot disagree. An encoder section gets the saved
    graph's ``graph_sha256`` here (:func:`with_graph_hash`)."""
    metadata = with_graph_hash(metadata, proto)
    embed_metadata(proto, metadata)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(onnx_path))
    sidecar = onnx_path.with_suffix(".json")
    sidecar.write_text(json.dumps(metadata.to_json_dict(), indent=2, sort_keys=True) + "\n")


def export_model(
    model, metadata: ModelMetadata, parity_batch: np.ndarray, out_dir: Path,
    name: str = "ser_model", temperature: float | None = None,
) -> tuple[Path, float]:  # fmt: skip
    """Write ``<name>.onnx`` (metadata embedded) and ``<name>.json`` (the same, as a sidecar);
    with a ``temperature``, the graph serves calibrated probabilities (:func:`calibrate_graph`).

    The parity checks run before anything is written, so a failing export leaves no file.
    """
    proto = keras_to_onnx(model, metadata.feature_config.input_shape)
    difference = check_parity(model, proto, parity_batch)
    if temperature is not None:
        calibrate_graph(proto, temperature)
        difference = max(difference, check_parity(model, proto, parity_batch, temperature))
    metadata.metrics.setdefault("export", {})["keras_onnx_max_abs_diff"] = difference
    onnx_path = out_dir / f"{name}.onnx"
    write_metadata(proto, metadata, onnx_path)
    return onnx_path, difference


CALIBRATION_SCALE = "calibration_inverse_temperature"  # initializer holding 1 / T
UNCALIBRATED_NAME = "uncalibrated_probabilities"


def calibrate_graph(proto: onnx.ModelProto, temperature: float) -> None:
    """Make the graph's ``probabilities`` output softmax(log(p) / T) of what it was, in place.

    Applied per window, inside the model, so the API and every other consumer of the ONNX file
    serve calibrated probabilities without knowing about calibration. Calling it again on a
    calibrated graph replaces the temperature (it never stacks).
    """
    from onnx import helper, numpy_helper

    scale = numpy_helper.from_array(np.array(1.0 / temperature, np.float32), CALIBRATION_SCALE)
    for i, initializer in enumerate(proto.graph.initializer):
        if initializer.name == CALIBRATION_SCALE:
            proto.graph.initializer[i].CopyFrom(scale)
            return
    _rename_producer(proto, OUTPUT_NAME, UNCALIBRATED_NAME)
    floor = numpy_helper.from_array(np.array(1e-12, np.float32), "calibration_floor")
    proto.graph.initializer.extend([scale, floor])
    proto.graph.node.extend([
        helper.make_node("Max", [UNCALIBRATED_NAME, "calibration_floor"], ["calibration_kept"]),
        helper.make_node("Log", ["calibration_kept"], ["calibration_log"]),
        helper.make_node("Mul", ["calibration_log", CALIBRATION_SCALE], ["calibration_logits"]),
        helper.make_node("Softmax", ["calibration_logits"], [OUTPUT_NAME], axis=-1),
    ])  # fmt: skip
    onnx.checker.check_model(proto)


def _rename_producer(proto: onnx.ModelProto, old_name: str, new_name: str) -> None:
    """Rename the tensor ``old_name`` wherever nodes produce or consume it (not the output)."""
    for node in proto.graph.node:
        for i, name in enumerate(node.output):
            if name == old_name:
                node.output[i] = new_name
        for i, name in enumerate(node.input):
            if name == old_name:
                node.input[i] = new_name
