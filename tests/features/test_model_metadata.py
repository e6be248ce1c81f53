"""Model metadata: the calibration section round-trips and stays optional."""

from __future__ import annotations

import pytest

from ser_features import EMOTIONS, FeatureConfig
from ser_features.model_metadata import KEY_CALIBRATION, ModelMetadata, ModelMetadataError

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
