"""The encoder's weights as they sit in an exported ONNX graph, and their sha256.

Model v3 ships encoder + head as one ONNX graph, so serving never reads the encoder's weights
file (issue 18); the metadata names the encoder and records :func:`graph_sha256` of the graph
at export. Serving recomputes it from the file it loads and refuses a graph whose encoder
weights differ (altered, or paired with another model's metadata or sidecar).

Which initializers are the encoder's: those that a node in the encoder's name scope reads.
tf2onnx keeps TensorFlow's op names, which Keras builds from the layer path
(``ser_encoder_model_1/whisper_encoder_1/conv1_1/BiasAdd``; Keras appends ``_1`` when a model is
called inside a ``tf.function``). Initializer names alone would not do: tf2onnx folds some
encoder weights into new anonymous initializers (the conv biases reshaped, as
``const_fold_opt__545``; the sinusoidal positions sliced to the window's 150 steps), and only
their consumers still carry the scope. A constant that an encoder node shares with the head
(an axis list) is counted too; that is harmless, it is part of the graph either way.

Definition: sha256 over the encoder's initializers sorted by name, each contributing the JSON
line ``[name, ONNX data type, dims, byte count]`` and then its values as little-endian bytes of
that type (``raw_data`` as stored, or the typed field converted, so a re-save that moves values
between the two keeps the hash). Node wiring is not hashed: this proves which weights the graph
holds, not a signature against a deliberate forgery (whoever can edit the graph can edit its
metadata).

The graph is read with protobuf, which onnxruntime itself depends on, through the few fields
of onnx.proto used here (unknown fields are skipped by the parser), so the API and batch images
need no ``onnx`` package (31 MB installed, with its test data and ml_dtypes).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

ENCODER_SCOPE = "whisper_encoder"  # build_keras_encoder's model name
EXTERNAL_DATA = 1  # TensorProto.DataLocation.EXTERNAL

# onnx.proto field numbers (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
_SCHEMA = {
    "ModelProto": [("graph", 7, "GraphProto", False)],
    "GraphProto": [
        ("node", 1, "NodeProto", True),
        ("initializer", 5, "TensorProto", True),
        ("sparse_initializer", 15, bytes, True),  # only counted: none is expected
    ],
    "NodeProto": [("input", 1, str, True), ("name", 3, str, False)],
    "TensorProto": [
        ("dims", 1, "int64", True),
        ("data_type", 2, "int32", False),
        ("float_data", 4, "float", True),
        ("int32_data", 5, "int32", True),
        ("int64_data", 7, "int64", True),
        ("name", 8, str, False),
        ("raw_data", 9, bytes, False),
        ("double_data", 10, "double", True),
        ("uint64_data", 11, "uint64", True),
        ("data_location", 14, "int32", False),
    ],
}
_SCALARS = {
    str: descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    bytes: descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
}
# ONNX data type → (typed field holding the values when raw_data is empty, little-endian dtype).
# int32_data holds the narrow integer types, bool, and float16/bfloat16 as bit patterns.
_TYPED_FIELDS = {
    1: ("float_data", "<f4"), 2: ("int32_data", "<u1"), 3: ("int32_data", "<i1"),
    4: ("int32_data", "<u2"), 5: ("int32_data", "<i2"), 6: ("int32_data", "<i4"),
    7: ("int64_data", "<i8"), 9: ("int32_data", "<u1"), 10: ("int32_data", "<u2"),
    11: ("double_data", "<f8"), 12: ("uint64_data", "<u4"), 13: ("uint64_data", "<u8"),
    14: ("float_data", "<f4"), 15: ("double_data", "<f8"), 16: ("int32_data", "<u2"),
}  # fmt: skip


class EncoderGraphError(ValueError):
    """The graph cannot be read, or holds no encoder; the message is one line."""


class SerializesToString(Protocol):
    """An ``onnx.ModelProto`` (or any protobuf message of that schema)."""

    def SerializeToString(self) -> bytes: ...  # protobuf's spelling


@dataclass(frozen=True)
class GraphTensor:
    """One initializer of the graph."""

    name: str
    data_type: int  # onnx.TensorProto.DataType
    dims: tuple[int, ...]
    data: bytes  # the values, little-endian, as ONNX's raw_data holds them


@cache
def _model_class() -> type[message.Message]:
    """A protobuf class for the subset of onnx.proto in _SCHEMA, built once."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="ser_encoders_onnx_subset.proto", package="ser_encoders_onnx_subset", syntax="proto2"
    )
    for message_name, fields in _SCHEMA.items():
        described = proto.message_type.add(name=message_name)
        for field_name, number, kind, repeated in fields:
            field = described.field.add(name=field_name, number=number)
            field.label = (
                descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                if repeated
                else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            )
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".{proto.package}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"{proto.package}.ModelProto")
    )


def _serialized(model: bytes | SerializesToString) -> bytes:
    if isinstance(model, bytes | bytearray | memoryview):
        return bytes(model)
    return model.SerializeToString()


def _values(tensor: Any) -> bytes:
    """The tensor's values as little-endian bytes of its type."""
    if tensor.data_location == EXTERNAL_DATA:
        raise EncoderGraphError(
            f"initializer {tensor.name!r} keeps its values in an external file; export the "
            "graph with its weights inside"
        )
    if tensor.raw_data:
        return tensor.raw_data
    if tensor.data_type not in _TYPED_FIELDS:
        raise EncoderGraphError(
            f"initializer {tensor.name!r} has ONNX type {tensor.data_type} outside raw_data, "
            "which this reader does not decode"
        )
    field, dtype = _TYPED_FIELDS[tensor.data_type]
    values = np.asarray(getattr(tensor, field))
    return values.astype(dtype).tobytes()


def encoder_initializers(
    model: bytes | SerializesToString, scope: str = ENCODER_SCOPE
) -> list[GraphTensor]:
    """The initializers that nodes in ``scope`` read, sorted by name.

    Parameters
    ----------
    model : the ``.onnx`` file's bytes, or an ``onnx.ModelProto``
    scope : a path component of the encoder's node names, with or without Keras' ``_<n>``

    Raises
    ------
    EncoderGraphError : not an ONNX model, no node in ``scope``, or an initializer stored in a
        way this reader does not decode (external file, sparse).
    """
    try:
        parsed = _model_class().FromString(_serialized(model))
    except message.DecodeError as error:
        raise EncoderGraphError(f"not an ONNX model: {error}") from None
    graph = parsed.graph
    in_scope = re.compile(rf"(?:^|/){re.escape(scope)}(?:_\d+)?/")
    read = {name for node in graph.node if in_scope.search(node.name) for name in node.input}
    if not read:
        raise EncoderGraphError(f"the graph has no node in the '{scope}' scope")
    if graph.sparse_initializer:
        raise EncoderGraphError(
            "the graph has sparse initializers, which this reader does not hash"
        )
    tensors = [
        GraphTensor(t.name, t.data_type, tuple(t.dims), _values(t))
        for t in graph.initializer
        if t.name in read
    ]
    return sorted(tensors, key=lambda t: t.name)


def graph_sha256(model: bytes | SerializesToString, scope: str = ENCODER_SCOPE) -> str:
    """Hex sha256 of the encoder's weights in the graph (the module docstring's definition).

    Compute it on the graph as saved: after every pass that rewrites initializers
    (calibration adds its own, outside the scope; quantisation replaces the encoder's).

    Raises
    ------
    EncoderGraphError : as :func:`encoder_initializers`.
    """
    digest = hashlib.sha256()
    for tensor in encoder_initializers(model, scope):
        header = [tensor.name, tensor.data_type, list(tensor.dims), len(tensor.data)]
        digest.update(json.dumps(header).encode() + b"\n")
        digest.update(tensor.data)
    return digest.hexdigest()
