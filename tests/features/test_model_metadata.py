"""Model metadata: the calibration and encoder sections round-trip and stay optional."""

from __future__ import annotations

import json

import pytest

from ser_encoders import WHISPER_TINY_EN
from ser_features import EMOTIONS, FeatureConfig
from ser_features.model_metadata import (
    KEY_CALIBRATION,
    KEY_ENCODER,
    EncoderMetadata,
    ModelMetadata,
    ModelMetadataError,
)

CALIBRATION = {"temperature": 1.4, "uncertain_below": 0.6}


def metadata(**extra) -> ModelMetadata:
    return ModelMetadata(EMOTIONS, FeatureConfig(), "v1", **extra)


def test_calibration_round_trips_through_properties_and_sidecar() -> None:
    original = metadata(calibration=CALIBRATION)
    assert ModelMetadata.from_properties(original.to_properties()) == original
    sidecar = ModelMetadata.properties_from_json_dict(original.to_json_dict())
    assert ModelMetadata.from_properties(sidecar) == original


def test_models_without_calibration_keep_loading_and_write_no_key() -> None:
    plain = metadata()
    assert KEY_CALIBRATION not in plain.to_properties()
    assert "calibration" not in plain.to_json_dict()
    assert ModelMetadata.from_properties(plain.to_properties()).calibration == {}


def test_calibration_that_is_not_an_object_is_refused() -> None:
    props = metadata().to_properties() | {KEY_CALIBRATION: "[1, 2]"}
    with pytest.raises(ModelMetadataError, match="calibration"):
        ModelMetadata.from_properties(props)


ENCODER = EncoderMetadata.from_spec(
    WHISPER_TINY_EN.as_dict(), ("block_1", "block_2"), pool=2, graph_sha256="ab" * 32
)


def test_the_encoder_section_round_trips_through_properties_and_sidecar() -> None:
    original = metadata(calibration=CALIBRATION, encoder=ENCODER)
    assert ModelMetadata.from_properties(original.to_properties()) == original
    sidecar = ModelMetadata.properties_from_json_dict(original.to_json_dict())
    assert ModelMetadata.from_properties(sidecar) == original
    # What the model carries: the spec's identity, the selection and the graph's hash.
    section = json.loads(original.to_properties()[KEY_ENCODER])
    assert section["name"] == "whisper-tiny.en" and section["sha256"] == WHISPER_TINY_EN.sha256
    assert section["layers"] == ["block_1", "block_2"] and section["pool"] == 2
    assert original.to_json_dict()["encoder"] == section


def test_hand_crafted_models_write_no_encoder_key() -> None:
    plain = metadata()
    assert KEY_ENCODER not in plain.to_properties()
    assert "encoder" not in plain.to_json_dict()
    assert ModelMetadata.from_properties(plain.to_properties()).encoder is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: [e], "must be a JSON object"),
        (lambda e: {k: v for k, v in e.items() if k != "graph_sha256"}, "lacks"),
        (lambda e: e | {"n_layers": "4"}, "wrong type"),
        (lambda e: e | {"pool": True}, "wrong type"),
        (lambda e: e | {"layers": []}, "non-empty list"),
        (lambda e: e | {"pool": 0}, "at least 1"),
        (lambda e: e | {"graph_sha256": ""}, "graph_sha256' is not a hex sha256"),
        (lambda e: e | {"sha256": "AB" * 32}, "sha256' is not a hex sha256"),
    ],
    ids=["list", "missing", "string-int", "bool", "no-layers", "pool-0", "not-hashed", "upper"],
)
def test_unusable_encoder_sections_are_refused(change, reason: str) -> None:
    props = metadata().to_properties() | {KEY_ENCODER: json.dumps(change(ENCODER.to_dict()))}
    with pytest.raises(ModelMetadataError, match=reason):
        ModelMetadata.from_properties(props)
