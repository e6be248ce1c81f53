"""The HTTP contract of /predict, /predict/batch, /health, /model, /metrics and /docs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ser_features import EMOTIONS
from tests.api.conftest import upload
from tests.support.audio import ENCODED_FORMATS, encoded_bytes, harmonic_tone, wav_bytes
from tests.support.tiny_model import TINY_CONFIG


def _metric(client: TestClient, name: str, **labels: str) -> float:
    """Current value of one sample in the Prometheus text output (0 if absent)."""
    text = client.get("/metrics").text
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(selector) + r"\}" if labels else "")
    match = re.search(rf"^{pattern} (\S+)$", text, flags=re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_predict_returns_the_full_contract(client: TestClient, speech_wav: bytes) -> None:
    response = client.post("/predict", files=upload(speech_wav))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {
        "emotion", "confidence", "probabilities", "duration_s", "sample_rate",
        "model_version", "segments",
    }  # fmt: skip
    assert list(body["probabilities"]) == list(EMOTIONS)
    assert math.isclose(sum(body["probabilities"].values()), 1.0, abs_tol=1e-6)
    assert body["emotion"] == max(body["probabilities"], key=body["probabilities"].get)
    assert body["confidence"] == body["probabilities"][body["emotion"]]
    assert body["duration_s"] == 3.0
    assert body["sample_rate"] == 16_000
    assert body["channels"] == 1
    assert body["format"] == "WAV"
    assert body["model_version"] == "tiny-test-0"
    segments = body["segments"]
    # 1-s windows every 0.5 s over ~3 s of (trimmed) audio.
    assert len(segments) >= 4
    starts = [s["start_s"] for s in segments]
    assert starts == sorted(starts)
    for segment in segments:
        assert segment["silent"] is False
        assert 0 <= segment["start_s"] < segment["end_s"] <= body["duration_s"]
        assert segment["end_s"] - segment["start_s"] <= TINY_CONFIG.window_s + 1e-9
        assert math.isclose(sum(segment["probabilities"].values()), 1.0, abs_tol=1e-5)
        assert segment["emotion"] == max(segment["probabilities"], key=segment["probabilities"].get)
    assert response.headers["x-request-id"]


def test_silent_stretches_are_marked_and_left_out_of_the_aggregate(client: TestClient) -> None:
    tone = harmonic_tone(2.0, seed=2)
    gap = np.zeros(round(2.5 * 16_000), dtype=np.float32)
    body = client.post(
        "/predict", files=upload(wav_bytes(np.concatenate([tone, gap, tone])))
    ).json()
    silent = [s for s in body["segments"] if s["silent"]]
    voiced = [s for s in body["segments"] if not s["silent"]]
    assert silent, "a 2.5-s gap in 1-s windows must yield silent windows"
    for segment in silent:
        assert segment["emotion"] is None
        assert segment["confidence"] is None
        assert segment["probabilities"] is None
    weights = np.array([s["end_s"] - s["start_s"] for s in voiced])
    expected = np.average(
        [[s["probabilities"][label] for label in EMOTIONS] for s in voiced],
        axis=0,
        weights=weights,
    )
    got = np.array([body["probabilities"][label] for label in EMOTIONS])
    np.testing.assert_allclose(got, expected / expected.sum(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("mp3", "audio/mpeg"), ("m4a", "audio/mp4"), ("webm", "audio/webm"), ("mp4", "video/mp4")],
)
def test_phone_browser_and_video_formats_are_classified(
    client: TestClient, kind: str, content_type: str
) -> None:
    rate = ENCODED_FORMATS[kind][2]
    data = encoded_bytes(harmonic_tone(2.0, rate=rate, seed=3), kind)
    response = client.post("/predict", files=upload(data, f"clip.{kind}", content_type))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sample_rate"] == rate
    assert body["duration_s"] == pytest.approx(2.0, abs=0.08)


def test_identical_uploads_give_identical_answers(client: TestClient, speech_wav: bytes) -> None:
    first = client.post("/predict", files=upload(speech_wav)).json()
    second = client.post("/predict", files=upload(speech_wav)).json()
    first.pop("timing"), second.pop("timing")
    assert first == second


def test_different_audio_gives_different_probabilities(client: TestClient) -> None:
    low = client.post("/predict", files=upload(wav_bytes(harmonic_tone(2.0, f0_hz=100.0))))
    high = client.post("/predict", files=upload(wav_bytes(harmonic_tone(2.0, f0_hz=300.0))))
    assert low.json()["probabilities"] != high.json()["probabilities"]


@pytest.mark.slow
def test_ten_minute_recording_is_accepted_with_its_timeline(client: TestClient) -> None:
    ten_minutes = np.tile(harmonic_tone(10.0, seed=3), 60)
    response = client.post("/predict", files=upload(wav_bytes(ten_minutes)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duration_s"] == 600.0
    hop = TINY_CONFIG.window_hop_s
    assert len(body["segments"]) >= (600.0 - TINY_CONFIG.window_s) / hop
    assert body["segments"][-1]["end_s"] > 599.0


def test_batch_returns_one_result_or_error_per_file_in_order(
    client: TestClient, speech_wav: bytes
) -> None:
    files = [
        ("files", ("one.wav", speech_wav, "audio/wav")),
        ("files", ("broken.wav", b"not audio at all", "audio/wav")),
        ("files", ("picture.png", b"\x89PNG\r\n", "image/png")),
        ("files", ("two.flac", wav_bytes(harmonic_tone(1.0), fmt="FLAC"), "audio/flac")),
    ]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["one.wav", "broken.wav", "picture.png", "two.flac"]
    assert [r["status_code"] for r in results] == [200, 422, 415, 200]
    single = client.post("/predict", files=upload(speech_wav)).json()
    assert results[0]["result"]["probabilities"] == single["probabilities"]
    assert results[1]["result"] is None
    assert "WAV, FLAC, OGG" in results[1]["detail"]
    assert results[3]["result"]["format"] == "FLAC"


def test_batch_limits_and_field_name(strict_client: TestClient, speech_wav: bytes) -> None:
    too_many = [("files", (f"{i}.wav", speech_wav, "audio/wav")) for i in range(4)]
    response = strict_client.post("/predict/batch", files=too_many)
    assert response.status_code in (400, 413)
    assert "3" in response.json()["detail"]
    wrong = strict_client.post("/predict/batch", files=upload(speech_wav))
    assert wrong.status_code == 400
    assert "'files'" in wrong.json()["detail"]


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model_loaded"] is True
    assert body["model_version"] == "tiny-test-0"


def test_model_describes_labels_features_and_limits(client: TestClient) -> None:
    body = client.get("/model").json()
    assert body["labels"] == list(EMOTIONS)
    assert body["feature_config"] == TINY_CONFIG.to_dict()
    assert body["input_shape"] == [None, *TINY_CONFIG.input_shape]
    assert body["metrics"]["protocol"].startswith("none")
    assert body["limits"]["max_duration_s"] == 600.0
    assert body["runtime"]["intra_op_threads"] == 1


def test_metrics_count_requests_latency_and_error_reasons(
    client: TestClient, speech_wav: bytes
) -> None:
    before_ok = _metric(
        client, "ser_http_requests_total", method="POST", route="/predict", status="200"
    )
    before_bad = _metric(client, "ser_errors_total", reason="undecodable")
    client.post("/predict", files=upload(speech_wav))
    client.post("/predict", files=upload(b"RIFF....WAVEjunk"))
    assert (
        _metric(client, "ser_http_requests_total", method="POST", route="/predict", status="200")
        == before_ok + 1
    )
    assert _metric(client, "ser_errors_total", reason="undecodable") == before_bad + 1
    text = client.get("/metrics").text
    assert (
        'ser_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/predict"}'
        in (text)
    )
    assert 'ser_processing_seconds_count{stage="inference"}' in text
    assert 'ser_model_info{model_version="tiny-test-0"} 1.0' in text


def test_unknown_paths_share_one_metric_label(client: TestClient) -> None:
    client.get("/no/such/path/12345")
    text = client.get("/metrics").text
    assert "/no/such/path" not in text
    assert 'route="unmatched"' in text


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/health", "/model", "/metrics"} <= set(schema["paths"])
    responses = schema["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422"} <= set(responses)


def test_request_id_is_echoed_when_safe_and_replaced_when_not(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    replaced = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
