"""The shipped model with its ``speaker_features`` output, the graph the adapted head is
fitted on (training) and extended with (export)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import onnx

from ser_features.model_metadata import ModelMetadata
from ser_training.model.adaptation_graph import add_speaker_features_for, strip_adaptation
from ser_training.model.export import write_metadata


def load_plain_model(path: Path) -> tuple[onnx.ModelProto, ModelMetadata]:
    """A Model v3 graph and its metadata, with any adapted head of an earlier ``adapt`` run
    taken off (graph and metadata section): re-running ``adapt`` starts from the plain model."""
    proto = onnx.load(str(path))
    metadata = ModelMetadata.from_properties({p.key: p.value for p in proto.metadata_props})
    strip_adaptation(proto)
    return proto, dataclasses.replace(metadata, adaptation=None)


def write_features_model(source: Path, target: Path) -> tuple[onnx.ModelProto, ModelMetadata]:
    """``source`` plus the ``speaker_features`` output, written to ``target`` (and sidecar)."""
    proto, metadata = load_plain_model(source)
    add_speaker_features_for(proto, metadata)
    write_metadata(proto, metadata, target)
    return proto, metadata
