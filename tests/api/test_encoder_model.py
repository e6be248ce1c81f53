"""The API serving a Model v3 graph: the same contract as any model, and a start refused with
the classifier's one-line reason when the graph's encoder does not match its metadata."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ser_api.main import StartupError, create_app
from ser_contract.models import ModelResponse, PredictionResponse
from ser_encoders import EncoderSpec
from ser_features import EMOTIONS
from ser_inference import AudioLimits, EmotionClassifier
from tests.api.conftest import make_settings, upload
from tests.api.test_config import uvicorn_refusal
from tests.support.v3_model import with_encoder_section, with_tampered_encoder_weight

pytestmark = pytest.mark.training  # the tiny v3 model is exported with TensorFlow


def test_predict_answers_a_v3_model_with_the_unchanged_contract(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, speech_wav: bytes
) -> None:
    with TestClient(create_app(make_settings(tiny_v3_model))) as client:
        response = client.post("/predict", files=upload(speech_wav))
        described = client.get("/model")
    assert response.status_code == 200, response.text
    body = PredictionResponse.model_validate(response.json())
    assert list(body.probabilities) == list(EMOTIONS)
    assert body.model_version == "tiny-v3-test" and body.duration_s == 3.0
    assert len(body.segments) == 1 and not body.segments[0].silent  # one 3-s window
    # The HTTP layer adds nothing to the classifier's numbers.
    expected = EmotionClassifier.load(tiny_v3_model).predict(speech_wav, AudioLimits())
    got = np.array([body.probabilities[label] for label in EMOTIONS])
    np.testing.assert_allclose(got, expected.probabilities, rtol=0, atol=1e-6)
    model = ModelResponse.model_validate(described.json())
    assert model.input_shape == [None, 300, 80]
    assert model.feature_config["front_end"] == "whisper"


def test_the_api_does_not_start_on_a_tampered_v3_graph(
    tiny_v3_model: Path, known_tiny_encoder: EncoderSpec, tmp_path: Path
) -> None:
    tampered = with_tampered_encoder_weight(tiny_v3_model, tmp_path / "tampered.onnx")
    app = create_app(make_settings(tampered))
    with pytest.raises(StartupError) as caught, TestClient(app):
        pass  # the lifespan raises on entering
    reason = (
        r"cannot start the SER API: model \S+tampered\.onnx: the encoder weights in its graph "
        r"have sha256 [0-9a-f]{64}, its metadata says [0-9a-f]{64}: [^\n]+"
    )
    assert re.fullmatch(reason, str(caught.value)), str(caught.value)


def test_ser_api_exits_with_one_clear_line_for_a_v3_model_without_its_encoder_section(
    tiny_v3_model: Path, tmp_path: Path
) -> None:
    stripped = with_encoder_section(tiny_v3_model, tmp_path / "stripped.onnx", lambda s: None)
    line = uvicorn_refusal(stripped, "has no 'encoder' section")
    assert str(stripped) in line and "cannot start the SER API" in line
