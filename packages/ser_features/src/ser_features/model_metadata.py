"""What an exported model says about itself, and how that is stored.

The training job writes these fields into the ONNX file's ``metadata_props`` (string → string)
and mirrors them in a JSON sidecar next to the model; the API reads them back at startup.
Living here, in the one package both sides install, keeps the key names in one place.
Pure Python: no onnx import, the caller moves the plain dict in and out of the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ser_features.config import FeatureConfig

INPUT_NAME = "features"  # ONNX input: float32 (batch, n_frames, n_features)
OUTPUT_NAME = "probabilities"  # ONNX output: float32 (batch, n_labels), softmax

KEY_PREFIX = "ser."  # every key this project writes starts with it
KEY_LABELS = KEY_PREFIX + "labels"
KEY_FEATURE_CONFIG = KEY_PREFIX + "feature_config"
KEY_VERSION = KEY_PREFIX + "model_version"
KEY_METRICS = KEY_PREFIX + "metrics"
KEY_TRAINING_DATA = KEY_PREFIX + "training_data"
KEY_LICENSE = KEY_PREFIX + "license"
# Temperature, "not sure" threshold and arousal/valence mapping (ser_inference.affect parses
# it); absent in models exported before calibration existed.
KEY_CALIBRATION = KEY_PREFIX + "calibration"


class ModelMetadataError(ValueError):
    """The model's metadata is missing or unusable."""


@dataclass(frozen=True)
class ModelMetadata:
    labels: tuple[str, ...]
    feature_config: FeatureConfig
    model_version: str
    metrics: dict[str, Any] = field(default_factory=dict)  # evaluation summary with protocol
    training_data: dict[str, Any] = field(default_factory=dict)  # corpora, counts, label map
    license: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_properties(self) -> dict[str, str]:
        """String → string pairs for ONNX ``metadata_props``."""
        calibration = {KEY_CALIBRATION: json.dumps(self.calibration, sort_keys=True)}
        return (calibration if self.calibration else {}) | {
            KEY_LABELS: json.dumps(list(self.labels)),
            KEY_FEATURE_CONFIG: self.feature_config.to_json(),
            KEY_VERSION: self.model_version,
            KEY_METRICS: json.dumps(self.metrics, sort_keys=True),
            KEY_TRAINING_DATA: json.dumps(self.training_data, sort_keys=True),
            KEY_LICENSE: self.license,
        }

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON sidecar's content (same information, nested instead of stringified)."""
        return {
            "labels": list(self.labels),
            "feature_config": self.feature_config.to_dict(),
            "model_version": self.model_version,
            "metrics": self.metrics,
            "training_data": self.training_data,
            "license": self.license,
        } | ({"calibration": self.calibration} if self.calibration else {})

    @staticmethod
    def properties_from_json_dict(data: dict[str, Any]) -> dict[str, str]:
        """The sidecar's content (``to_json_dict``) back as ``metadata_props`` pairs, so both
        sources go through the same validation in :meth:`from_properties`.

        Raises KeyError for a missing required field, TypeError for a value JSON cannot encode.
        """
        calibration = data.get("calibration")
        return ({KEY_CALIBRATION: json.dumps(calibration)} if calibration else {}) | {
            KEY_LABELS: json.dumps(data["labels"]),
            KEY_FEATURE_CONFIG: json.dumps(data["feature_config"]),
            KEY_VERSION: str(data["model_version"]),
            KEY_METRICS: json.dumps(data.get("metrics", {})),
            KEY_TRAINING_DATA: json.dumps(data.get("training_data", {})),
            KEY_LICENSE: str(data.get("license", "")),
        }

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> ModelMetadata:
        """Parse ONNX ``metadata_props``; raises :class:`ModelMetadataError` with the reason."""
        missing = [k for k in (KEY_LABELS, KEY_FEATURE_CONFIG, KEY_VERSION) if k not in props]
        if missing:
            raise ModelMetadataError(
                f"model metadata lacks {missing}; was it exported by ser-train?"
            )
        try:
            labels = json.loads(props[KEY_LABELS])
            metrics = json.loads(props.get(KEY_METRICS) or "{}")
            training_data = json.loads(props.get(KEY_TRAINING_DATA) or "{}")
            calibration = json.loads(props.get(KEY_CALIBRATION) or "{}")
        except json.JSONDecodeError as error:
            raise ModelMetadataError(f"model metadata is not valid JSON: {error}") from error
        if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
            raise ModelMetadataError("model metadata 'labels' must be a non-empty list of strings")
        if not isinstance(calibration, dict):
            raise ModelMetadataError("model metadata 'calibration' must be a JSON object")
        if len(set(labels)) != len(labels):
            raise ModelMetadataError("model metadata 'labels' has duplicates")
        # FeatureConfigError (a ValueError) propagates: the config cannot be reproduced here.
        config = FeatureConfig.from_json(props[KEY_FEATURE_CONFIG])
        return cls(
            labels=tuple(labels),
            feature_config=config,
            model_version=props[KEY_VERSION],
            metrics=metrics,
            training_data=training_data,
            license=props.get(KEY_LICENSE, ""),
            calibration=calibration,
        )
