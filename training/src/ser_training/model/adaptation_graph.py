"""The speaker-adapted head, added to the exported Model v3 graph beside the plain head.

Both heads read the same frozen encoder pass, so they live in one ONNX graph (issue 24):

* ``speaker_features`` (batch, n_layers × 2 × d_model): per encoder layer the head reads, the
  mean and then the standard deviation over its (pooled) steps; the very tensor the plain head
  takes, summarised. A speaker profile is the mean and standard deviation of these over the
  speaker's windows.
* ``adapted_probabilities`` (batch, n_labels): softmax(((f − profile_mean) / profile_std) · W
  + b) / T, a linear head on the speaker-standardised features, calibrated by its own
  temperature. ``profile_mean`` and ``profile_std`` are graph inputs with defaults (zeros,
  ones) stored as initializers, so a plain request feeds only ``features`` and asks only for
  ``probabilities``; ONNX Runtime then leaves the adapted branch unrun.

Two steps, because the head is fitted on what the first step's graph computes: training and
serving read the same ``speaker_features`` from the same graph.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ser_features.model_metadata import (
    ADAPTED_OUTPUT_NAME,
    PROFILE_MEAN_NAME,
    PROFILE_STD_NAME,
    SPEAKER_FEATURES_NAME,
    AdaptationMetadata,
    ModelMetadata,
)
from ser_training.model.export import write_metadata

HEAD_INPUT_SCOPE = "stack_layers"  # encoder_serving_model's layer that stacks the head's input
_PREFIX = "speaker_adaptation/"  # names of every node and initializer added here


class AdaptationGraphError(ValueError):
    """The graph is not a Model v3 graph this module can extend."""


def head_input(
    proto: onnx.ModelProto, d_model: int, n_frames: int, n_mels: int
) -> tuple[str, list[int]]:
    """Name of the tensor the plain head reads, and the permutation that makes it
    (batch, n_layers, n_steps, d_model).

    Keras stacks (batch, n_layers, n_steps, d_model), but tf2onnx's layout optimiser may store
    it otherwise: the real v3 graph holds (batch, d_model, n_layers, n_steps). The stacking
    Concat's axis is the layers' axis; which of the other two is ``d_model`` is read from the
    tensor's shape on a dry run (ambiguous only if n_steps == d_model, refused).
    """
    nodes = [
        node for node in proto.graph.node
        if f"/{HEAD_INPUT_SCOPE}" in node.name and node.op_type == "Concat"
    ]  # fmt: skip
    produced = [output for node in nodes for output in node.output]
    consumed = {name for node in proto.graph.node for name in node.input}
    candidates = [name for name in produced if name in consumed]
    if len(candidates) != 1:
        raise AdaptationGraphError(
            f"expected one tensor out of the '{HEAD_INPUT_SCOPE}' layer (the encoder layers the "
            f"head reads), found {candidates}: not a Model v3 graph"
        )
    (name,) = candidates
    (node,) = [node for node in nodes if name in node.output]
    (layers_axis,) = [a.i for a in node.attribute if a.name == "axis"]
    shape = _dry_run_shape(proto, name, n_frames, n_mels)
    layers_axis %= len(shape)
    rest = [axis for axis in range(1, len(shape)) if axis != layers_axis]
    d_axes = [axis for axis in rest if shape[axis] == d_model]
    if len(shape) != 4 or layers_axis == 0 or len(d_axes) != 1:
        raise AdaptationGraphError(
            f"cannot tell the axes of the head's input {name} of shape {shape} (layers stacked "
            f"on axis {layers_axis}, d_model {d_model})"
        )
    (steps_axis,) = [axis for axis in rest if axis != d_axes[0]]
    return name, [0, layers_axis, steps_axis, d_axes[0]]


def _dry_run_shape(proto: onnx.ModelProto, tensor: str, n_frames: int, n_mels: int) -> list[int]:
    """The shape of ``tensor`` when the graph runs on one zero window (batch 1)."""
    import onnxruntime as ort  # only at export time

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    probe.graph.output.append(onnx.ValueInfoProto(name=tensor))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    window = np.zeros((1, n_frames, n_mels), np.float32)
    (value,) = session.run([tensor], {session.get_inputs()[0].name: window})
    return list(value.shape)


def _output_names(proto: onnx.ModelProto) -> list[str]:
    return [output.name for output in proto.graph.output]


def add_speaker_features(
    proto: onnx.ModelProto, n_layers: int, d_model: int, n_frames: int, n_mels: int
) -> int:
    """Add the ``speaker_features`` output (batch, n_layers × 2 × d_model) in place.

    Parameters
    ----------
    n_layers, d_model : of the head's input (the encoder layers it reads, the encoder width)
    n_frames, n_mels : one input window's shape (the graph is dry-run once to read a layout)

    Returns
    -------
    int : the number of speaker features, n_layers × 2 × d_model
    """
    if SPEAKER_FEATURES_NAME in _output_names(proto):
        raise AdaptationGraphError(f"the graph already has a '{SPEAKER_FEATURES_NAME}' output")
    stacked, perm = head_input(proto, d_model, n_frames, n_mels)
    n_features = n_layers * 2 * d_model
    p = _PREFIX
    shape = numpy_helper.from_array(np.array([0, -1], np.int64), p + "flat_shape")
    proto.graph.initializer.append(shape)
    proto.graph.node.extend([
        helper.make_node("Transpose", [stacked], [p + "blTd"], perm=perm),  # (b, L, T, d)
        # Per layer and dimension, over the T steps: mean and population standard deviation.
        helper.make_node("ReduceMean", [p + "blTd"], [p + "mean"], axes=[2], keepdims=0),
        helper.make_node("ReduceMean", [p + "blTd"], [p + "mean_kept"], axes=[2], keepdims=1),
        helper.make_node("Sub", [p + "blTd", p + "mean_kept"], [p + "centred"]),
        helper.make_node("Mul", [p + "centred", p + "centred"], [p + "squared"]),
        helper.make_node("ReduceMean", [p + "squared"], [p + "variance"], axes=[2], keepdims=0),
        helper.make_node("Sqrt", [p + "variance"], [p + "std"]),
        helper.make_node("Concat", [p + "mean", p + "std"], [p + "layer_stats"], axis=-1),
        # (b, L, 2d) → (b, L·2d): layer by layer, mean then std (model.probe.pooled's order).
        helper.make_node("Reshape", [p + "layer_stats", p + "flat_shape"], [SPEAKER_FEATURES_NAME]),
    ])  # fmt: skip
    proto.graph.output.append(
        helper.make_tensor_value_info(
            SPEAKER_FEATURES_NAME, TensorProto.FLOAT, ["batch", n_features]
        )
    )
    onnx.checker.check_model(proto)
    return n_features


def add_adapted_head(
    proto: onnx.ModelProto, weights: np.ndarray, bias: np.ndarray, temperature: float
) -> None:
    """Add the profile inputs and the ``adapted_probabilities`` output in place.

    Parameters
    ----------
    proto : a graph with ``speaker_features`` (:func:`add_speaker_features`)
    weights : (n_features, n_labels) of the linear head on standardised features
    bias : (n_labels,)
    temperature : > 0, divides the logits (the adapted head's calibration)
    """
    if SPEAKER_FEATURES_NAME not in _output_names(proto):
        raise AdaptationGraphError(f"the graph has no '{SPEAKER_FEATURES_NAME}' output yet")
    if ADAPTED_OUTPUT_NAME in _output_names(proto):
        raise AdaptationGraphError(f"the graph already has an '{ADAPTED_OUTPUT_NAME}' output")
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    n_features, n_labels = weights.shape
    if bias.shape != (n_labels,):
        raise ValueError(f"bias shape {bias.shape} does not match weights {weights.shape}")
    p = _PREFIX
    defaults = [
        numpy_helper.from_array(np.zeros((1, n_features), np.float32), PROFILE_MEAN_NAME),
        numpy_helper.from_array(np.ones((1, n_features), np.float32), PROFILE_STD_NAME),
    ]
    proto.graph.initializer.extend([
        *defaults,
        numpy_helper.from_array(weights.astype(np.float32), p + "weights"),
        numpy_helper.from_array(bias.astype(np.float32), p + "bias"),
        numpy_helper.from_array(np.array(1.0 / temperature, np.float32), p + "inverse_temperature"),
    ])  # fmt: skip
    for default in defaults:  # inputs with a default: a plain request need not feed them
        proto.graph.input.append(
            helper.make_tensor_value_info(
                default.name, TensorProto.FLOAT, ["profile_rows", n_features]
            )
        )
    proto.graph.node.extend([
        helper.make_node("Sub", [SPEAKER_FEATURES_NAME, PROFILE_MEAN_NAME], [p + "shifted"]),
        helper.make_node("Div", [p + "shifted", PROFILE_STD_NAME], [p + "standardised"]),
        helper.make_node("MatMul", [p + "standardised", p + "weights"], [p + "projected"]),
        helper.make_node("Add", [p + "projected", p + "bias"], [p + "logits"]),
        helper.make_node("Mul", [p + "logits", p + "inverse_temperature"], [p + "tempered"]),
        helper.make_node("Softmax", [p + "tempered"], [ADAPTED_OUTPUT_NAME], axis=-1),
    ])  # fmt: skip
    proto.graph.output.append(
        helper.make_tensor_value_info(ADAPTED_OUTPUT_NAME, TensorProto.FLOAT, ["batch", n_labels])
    )
    onnx.checker.check_model(proto)


def set_adapted_temperature(proto: onnx.ModelProto, temperature: float) -> None:
    """Replace the adapted head's temperature in place (calibration after the head is fitted)."""
    name = _PREFIX + "inverse_temperature"
    for initializer in proto.graph.initializer:
        if initializer.name == name:
            initializer.CopyFrom(
                numpy_helper.from_array(np.array(1.0 / temperature, np.float32), name)
            )
            return
    raise AdaptationGraphError("the graph has no adapted head")


def read_adapted_head(proto: onnx.ModelProto) -> tuple[np.ndarray, np.ndarray]:
    """The adapted head's weights (n_features, n_labels) and bias (n_labels,), as
    :func:`add_adapted_head` stored them (to carry the head onto a refitted plain model)."""
    stored = {i.name: i for i in proto.graph.initializer}
    try:
        return tuple(numpy_helper.to_array(stored[_PREFIX + n]) for n in ("weights", "bias"))
    except KeyError:
        raise AdaptationGraphError("the graph has no adapted head") from None


def strip_adaptation(proto: onnx.ModelProto) -> None:
    """Take off, in place, everything :func:`add_speaker_features` and
    :func:`add_adapted_head` added: the plain graph again (to re-fit the head)."""
    added = {SPEAKER_FEATURES_NAME, ADAPTED_OUTPUT_NAME, PROFILE_MEAN_NAME, PROFILE_STD_NAME}

    def ours(name: str) -> bool:
        return name.startswith(_PREFIX) or name in added

    keep = [n for n in proto.graph.node if not any(ours(o) for o in n.output)]
    del proto.graph.node[:]
    proto.graph.node.extend(keep)
    for field in (proto.graph.initializer, proto.graph.input, proto.graph.output):
        kept = [item for item in field if not ours(item.name)]
        del field[:]
        field.extend(kept)


def add_speaker_features_for(proto: onnx.ModelProto, metadata: ModelMetadata) -> int:
    """:func:`add_speaker_features` with the layers, width and window shape from a Model v3
    graph's own metadata; returns the number of speaker features."""
    if metadata.encoder is None:
        raise AdaptationGraphError("the model has no encoder section: not a Model v3 graph")
    n_frames, n_mels = metadata.feature_config.input_shape
    return add_speaker_features(
        proto, len(metadata.encoder.layers), metadata.encoder.d_model, n_frames, n_mels
    )


def write_adapted_model(
    proto: onnx.ModelProto, metadata: ModelMetadata, weights: np.ndarray, bias: np.ndarray,
    adaptation: AdaptationMetadata, path: Path,
) -> Path:  # fmt: skip
    """Add the adapted head (``adaptation.temperature``) to a graph that already has
    ``speaker_features`` and write it, with ``adaptation`` in its metadata, to ``path`` and
    its sidecar. ``proto`` is changed in place."""
    add_adapted_head(proto, weights, bias, adaptation.temperature)
    write_metadata(proto, dataclasses.replace(metadata, adaptation=adaptation), path)
    return path
