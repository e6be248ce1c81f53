"""The additive contract of issue 12: `uncertain`, `arousal` and `valence` on every answer
(recording, segments, batch entries), and /model's `calibration` section, through a tiny
model whose metadata carries a calibration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ser_api.main import create_app
from ser_features import EMOTIONS
from ser_inference import Calibration
from tests.api.conftest import SHIPPED_MODEL, make_settings, upload
from tests.support.audio import harmonic_tone, wav_bytes
from tests.support.tiny_model import build_tiny_model, tiny_metadata

THRESHOLD = 0.5  # above 1/7: a uniform answer is "not sure"
CALIBRATION = {**Calibration.default(EMOTIONS).to_dict(), "uncertain_below": THRESHOLD,
               "temperature": 1.25, "fitted_on": "test speakers: none (hand-set)"}  # fmt: skip
ANSWER_FIELDS = ("uncertain", "arousal", "valence")


def _client(path: Path, logits: np.ndarray | None, calibration: dict | None) -> TestClient:
    model = build_tiny_model(path, tiny_metadata(calibration=calibration), logits=logits)
    return TestClient(create_app(make_settings(model)))


@pytest.fixture(scope="module")
def uniform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A calibrated model that answers the uniform distribution for every window."""
    path = tmp_path_factory.mktemp("uniform") / "m.onnx"
    with _client(path, np.zeros(len(EMOTIONS)), CALIBRATION) as client:
        yield client


@pytest.fixture(scope="module")
def angry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A calibrated model that is sure every window is angry."""
    logits = np.zeros(len(EMOTIONS))
    logits[EMOTIONS.index("angry")] = 30.0
    with _client(tmp_path_factory.mktemp("angry") / "m.onnx", logits, CALIBRATION) as client:
        yield client


@pytest.fixture(scope="module")
def speech_with_a_pause() -> bytes:
    tone = harmonic_tone(2.0, seed=2)
    return wav_bytes(np.concatenate([tone, np.zeros(40_000, np.float32), tone]))


def _answers(body: dict) -> list[dict]:
    return [body, *(s for s in body["segments"] if not s["silent"])]


def test_a_uniform_answer_is_not_sure_everywhere(
    uniform: TestClient, speech_with_a_pause: bytes
) -> None:
    body = uniform.post("/predict", files=upload(speech_with_a_pause)).json()
    for answer in _answers(body):
        assert answer["uncertain"] is True
        assert answer["emotion"] in EMOTIONS  # still the best guess, with its probabilities
        assert answer["confidence"] == pytest.approx(1 / len(EMOTIONS), abs=1e-5)


def test_a_sure_angry_answer_is_aroused_and_negative(
    angry: TestClient, speech_with_a_pause: bytes
) -> None:
    body = angry.post("/predict", files=upload(speech_with_a_pause)).json()
    for answer in _answers(body):
        assert answer["emotion"] == "angry" and answer["uncertain"] is False
        assert answer["arousal"] == pytest.approx(1.0, abs=1e-5)
        assert answer["valence"] == pytest.approx(
            Calibration.default(EMOTIONS).valence["angry"], abs=1e-5
        )


def test_fields_stay_in_range_and_are_null_on_silent_segments(
    client: TestClient, speech_with_a_pause: bytes
) -> None:
    body = client.post("/predict", files=upload(speech_with_a_pause)).json()
    for answer in _answers(body):
        assert isinstance(answer["uncertain"], bool)
        assert 0.0 <= answer["arousal"] <= 1.0 and -1.0 <= answer["valence"] <= 1.0
    silent = [s for s in body["segments"] if s["silent"]]
    assert silent
    for segment in silent:
        assert {segment[name] for name in ANSWER_FIELDS} == {None}


def test_batch_entries_carry_the_same_answers(
    uniform: TestClient, speech_with_a_pause: bytes
) -> None:
    single = uniform.post("/predict", files=upload(speech_with_a_pause)).json()
    files = [("files", ("a.wav", speech_with_a_pause, "audio/wav"))]
    (entry,) = uniform.post("/predict/batch", files=files).json()["results"]
    for name in ANSWER_FIELDS:
        assert entry["result"][name] == single[name]
        assert [s[name] for s in entry["result"]["segments"]] == [
            s[name] for s in single["segments"]
        ]


def test_model_reports_the_calibration(uniform: TestClient) -> None:
    section = uniform.get("/model").json()["calibration"]
    assert section == {**CALIBRATION, "calibrated": True}


def test_an_uncalibrated_model_says_so_and_is_never_unsure(
    client: TestClient, speech_with_a_pause: bytes
) -> None:
    section = client.get("/model").json()["calibration"]
    assert section["calibrated"] is False and section["uncertain_below"] == 0.0
    assert set(section["arousal"]) == set(EMOTIONS) == set(section["valence"])
    body = client.post("/predict", files=upload(speech_with_a_pause)).json()
    assert not any(answer["uncertain"] for answer in _answers(body))


def test_openapi_documents_the_new_fields_with_their_ranges(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    prediction = schemas["PredictionResponse"]["properties"]
    assert "not sure" in prediction["uncertain"]["description"]
    assert (prediction["arousal"]["minimum"], prediction["arousal"]["maximum"]) == (0.0, 1.0)
    assert (prediction["valence"]["minimum"], prediction["valence"]["maximum"]) == (-1.0, 1.0)
    segment = schemas["Segment"]["properties"]
    assert all("silent" in segment[name]["description"].lower() for name in ANSWER_FIELDS)
    assert set(schemas["CalibrationInfo"]["properties"]) == {*CALIBRATION, "calibrated"}
    assert set(schemas["ServiceLimits"]["required"]) == {
        "max_upload_bytes", "min_duration_s", "max_duration_s", "max_batch_files"
    }  # fmt: skip


@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="models/ser_model.onnx not exported yet")
def test_the_shipped_model_is_served_calibrated(speech_with_a_pause: bytes) -> None:
    with TestClient(create_app(make_settings(SHIPPED_MODEL))) as client:
        section = client.get("/model").json()["calibration"]
        body = client.post("/predict", files=upload(speech_with_a_pause)).json()
    # What `ser-train calibrate` stored beside the model is what the API serves.
    stored = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())["calibration"]
    assert section["calibrated"] is True
    assert section["temperature"] == pytest.approx(stored["temperature"])
    assert section["temperature"] != pytest.approx(1.0)
    assert section["uncertain_below"] == pytest.approx(stored["uncertain_below"])
    assert 0.0 < section["uncertain_below"] < 1.0
    assert body["uncertain"] == (body["confidence"] < section["uncertain_below"])
