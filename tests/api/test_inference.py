"""EmotionClassifier: refuses models it cannot serve, and matches the training code path."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from ser_api.main import StartupError, create_app
from ser_features import EMOTIONS, FeatureConfig, FeatureExtractor, file_features
from ser_features.model_metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata
from ser_inference import AudioLimits, EmotionClassifier, ModelLoadError
from tests.api.conftest import SHIPPED_MODEL, make_settings, upload
from tests.support.audio import harmonic_tone, wav_bytes
from tests.support.tiny_model import TINY_CONFIG, build_tiny_model, tiny_metadata

LIMITS = AudioLimits(min_duration_s=0.25, max_duration_s=600.0)


def _reference(model_path: Path, data: bytes) -> tuple[np.ndarray, list[bool]]:
    """What the training code path computes: ser_features.file_features + a plain session."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    metadata = ModelMetadata.from_properties(dict(session.get_modelmeta().custom_metadata_map))
    _, utterance = file_features(data, FeatureExtractor(metadata.feature_config))
    (probabilities,) = session.run([OUTPUT_NAME], {INPUT_NAME: utterance.features})
    return probabilities, [w.silent for w in utterance.windows]


def _recording(rate: int) -> bytes:
    tone = harmonic_tone(2.5, rate=rate, seed=11)
    gap = np.zeros(2 * rate, dtype=np.float32)
    stereo = np.stack([np.concatenate([tone, gap, tone * 0.5])] * 2, axis=1)
    return wav_bytes(stereo, rate=rate)


@pytest.mark.parametrize("rate", [16_000, 44_100])
def test_api_probabilities_equal_the_training_code_path(
    client: TestClient, tiny_model_path: Path, rate: int
) -> None:
    data = _recording(rate)
    expected, silent = _reference(tiny_model_path, data)
    body = client.post("/predict", files=upload(data)).json()
    segments = body["segments"]
    assert [s["silent"] for s in segments] == silent
    assert any(silent), "the recording has a gap: some windows must be silent"
    got = np.array(
        [[s["probabilities"][lab] for lab in EMOTIONS] for s in segments if not s["silent"]]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="models/ser_model.onnx not exported yet")
def test_shipped_model_through_the_api_matches_the_training_code_path() -> None:
    data = _recording(48_000)
    expected, _ = _reference(SHIPPED_MODEL, data)
    with TestClient(create_app(make_settings(SHIPPED_MODEL))) as shipped:
        body = shipped.post("/predict", files=upload(data)).json()
    labels = list(body["probabilities"])
    got = np.array(
        [[s["probabilities"][lab] for lab in labels] for s in body["segments"] if not s["silent"]]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_predict_batches_all_windows_and_reports_timings(tiny_model_path: Path) -> None:
    classifier = EmotionClassifier.load(tiny_model_path)
    prediction = classifier.predict(wav_bytes(harmonic_tone(6.0)), LIMITS)
    voiced = [w for w in prediction.windows if not w.silent]
    assert len(voiced) >= 9
    assert prediction.inference_ms > 0 and prediction.features_ms > 0
    assert prediction.emotion in EMOTIONS
    assert prediction.confidence == pytest.approx(prediction.probabilities.max())


# --- models the service must refuse -------------------------------------------------------


def _with_props(path: Path, **changes: str) -> Path:
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props} | changes
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "nowhere" / "ser_model.onnx"


def _corrupt(tmp: Path) -> Path:
    path = tmp / "corrupt.onnx"
    path.write_bytes(b"\x08\x07" + bytes(range(256)) * 10)
    return path


def _truncated(tmp: Path) -> Path:
    good = build_tiny_model(tmp / "good.onnx").read_bytes()
    path = tmp / "truncated.onnx"
    path.write_bytes(good[: len(good) // 2])
    return path


def _unknown_feature_version(tmp: Path) -> Path:
    config = TINY_CONFIG.to_dict() | {"version": 99}
    return _with_props(
        build_tiny_model(tmp / "v99.onnx"), **{"ser.feature_config": json.dumps(config)}
    )


def _unknown_feature_key(tmp: Path) -> Path:
    config = TINY_CONFIG.to_dict() | {"pitch_shift": 2}
    return _with_props(
        build_tiny_model(tmp / "key.onnx"), **{"ser.feature_config": json.dumps(config)}
    )


def _no_metadata(tmp: Path) -> Path:
    path = build_tiny_model(tmp / "bare.onnx")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    return path


def _shape_mismatch(tmp: Path) -> Path:
    # The graph was built for 13 MFCCs; the metadata claims 20.
    other = dataclasses.replace(TINY_CONFIG, n_mfcc=20)
    return _with_props(
        build_tiny_model(tmp / "shape.onnx"), **{"ser.feature_config": other.to_json()}
    )


def _label_mismatch(tmp: Path) -> Path:
    metadata = tiny_metadata(labels=("calm", "angry"))
    path = build_tiny_model(tmp / "labels.onnx", metadata)
    return _with_props(path, **{"ser.labels": json.dumps(list(EMOTIONS))})


@pytest.mark.parametrize(
    ("make_model", "message"),
    [
        (_missing, "model file not found"),
        (_corrupt, "not a loadable ONNX model"),
        (_truncated, "not a loadable ONNX model"),
        (_unknown_feature_version, "version 99 is not supported"),
        (_unknown_feature_key, "pitch_shift"),
        (_no_metadata, "lacks"),
        (_shape_mismatch, "does not match its feature config"),
        (_label_mismatch, "labels"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] or None,
)
def test_unservable_model_stops_startup_with_one_clear_line(
    tmp_path: Path, make_model, message: str
) -> None:
    path = make_model(tmp_path)
    with pytest.raises(ModelLoadError, match=message) as loading:
        EmotionClassifier.load(path)
    assert "\n" not in str(loading.value)
    app = create_app(make_settings(path))
    with pytest.raises(StartupError, match=message), TestClient(app):
        pass


def test_sidecar_metadata_is_used_when_the_onnx_file_has_none(tmp_path: Path) -> None:
    path = _no_metadata(tmp_path)
    sidecar = dataclasses.replace(tiny_metadata(), model_version="from-sidecar")
    path.with_suffix(".json").write_text(json.dumps(sidecar.to_json_dict()))
    assert EmotionClassifier.load(path).model_version == "from-sidecar"


def test_production_size_config_loads(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "prod.onnx", tiny_metadata(FeatureConfig()))
    classifier = EmotionClassifier.load(path, threads=2)
    assert classifier.config.input_shape == FeatureConfig().input_shape
