"""``WS /stream``: the same windows and answer as ``/predict``, and every limit a clear close
(ser_api.streaming)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ser_api.main import create_app
from ser_contract.stream import (
    BUSY,
    DONE,
    IDLE,
    MALFORMED,
    TOO_FAST,
    TOO_LONG,
    UNAUTHORIZED,
    UNSUPPORTED,
    StreamClose,
    StreamStart,
    StreamSummary,
    StreamWindow,
)
from ser_features import voiced_bounds
from tests.api.conftest import make_settings, upload
from tests.support.audio import harmonic_tone, wav_bytes
from tests.support.tiny_model import TINY_CONFIG

TOLERANCE = 1e-6
KEY = "k" * 24
END = json.dumps({"event": "end"})
# A test sends its audio at once: far faster than real time, within this allowance.
UNPACED = {"stream_burst_s": 3600.0}


@pytest.fixture(scope="module")
def unpaced(tiny_model_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tiny_model_path, **UNPACED))) as client:
        yield client


def client_with(tiny_model_path: Path, **settings: object) -> TestClient:
    return TestClient(create_app(make_settings(tiny_model_path, **settings)))


def split_bytes(data: bytes, seed: int, sample_bytes: int) -> list[bytes]:
    """``data`` in frames of random whole-sample sizes (some tiny, one empty)."""
    rng = np.random.default_rng(seed)
    cuts = sorted(int(c) * sample_bytes for c in rng.integers(0, len(data) // sample_bytes, 30))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def stream_all(client: TestClient, url: str, frames: list[bytes]) -> tuple[dict, list, dict]:
    """(start, windows, summary) of one stream that sends ``frames`` then ``end``."""
    with client.websocket_connect(url) as ws:
        start = StreamStart.model_validate(ws.receive_json()).model_dump()
        for frame in frames:
            ws.send_bytes(frame)
        ws.send_text(END)
        messages = []
        while True:
            message = ws.receive_json()
            messages.append(message)
            if message["event"] == "summary":
                break
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == DONE.code
    windows = [StreamWindow.model_validate(m).model_dump() for m in messages[:-1]]
    return start, windows, StreamSummary.model_validate(messages[-1]).model_dump()


def assert_matches_predict(
    windows: list[dict], summary: dict, answer: dict, tolerance: float = TOLERANCE
) -> None:
    segments = answer["segments"]
    assert len(windows) == len(segments)
    for index, (got, want) in enumerate(zip(windows, segments, strict=True)):
        assert got["index"] == index
        assert (got["t_start"], got["t_end"], got["silent"]) == (
            want["start_s"], want["end_s"], want["silent"],
        )  # fmt: skip
        assert (got["emotion"], got["uncertain"]) == (want["emotion"], want["uncertain"])
        if want["silent"]:
            assert got["probabilities"] is None and got["confidence"] is None
            continue
        for label, p in want["probabilities"].items():
            assert abs(got["probabilities"][label] - p) <= tolerance
        for field in ("confidence", "arousal", "valence"):
            assert abs(got[field] - want[field]) <= tolerance
    assert summary["emotion"] == answer["emotion"] and not summary["silent"]
    for label, p in answer["probabilities"].items():
        assert abs(summary["probabilities"][label] - p) <= tolerance
    for field in ("confidence", "arousal", "valence"):
        assert abs(summary[field] - answer[field]) <= tolerance
    assert summary["windows"] == len(segments)
    assert summary["duration_s"] == pytest.approx(answer["duration_s"], abs=1e-4)


def speech(seconds: float, rate: int, gap: bool = True) -> np.ndarray:
    """Speech-like audio with 1.2 s of silence inside, voiced at both ends (so /predict
    trims nothing: the stream's claim is for such audio, see ser_inference.stream)."""
    signal = harmonic_tone(seconds, rate=rate, seed=4)
    if gap:
        signal[rate : int(2.2 * rate)] = 0.0
    assert voiced_bounds(signal, TINY_CONFIG) == (0, len(signal)) or rate != 16_000
    return signal


def test_s16_stream_equals_the_predict_timeline_and_answer(unpaced: TestClient) -> None:
    wav = wav_bytes(speech(5.3, 16_000))
    answer = unpaced.post("/predict", files=upload(wav)).json()
    pcm = soundfile.read(io.BytesIO(wav), dtype="int16")[0].astype("<i2").tobytes()
    start, windows, summary = stream_all(
        unpaced, "/stream?sample_rate=16000&encoding=pcm_s16le", split_bytes(pcm, 1, 2)
    )
    assert start["window_s"] == TINY_CONFIG.window_s and start["hop_s"] == TINY_CONFIG.window_hop_s
    assert any(w["silent"] for w in windows)  # the gap: silent, no label
    assert_matches_predict(windows, summary, answer)


def test_f32_stream_at_48khz_equals_the_predict_timeline(unpaced: TestClient) -> None:
    signal = speech(4.1, 48_000)
    wav = wav_bytes(signal, rate=48_000, subtype="FLOAT")
    answer = unpaced.post("/predict", files=upload(wav)).json()
    assert answer["segments"][0]["start_s"] == 0.0  # nothing trimmed
    _, windows, summary = stream_all(
        unpaced, "/stream?sample_rate=48000&encoding=f32le",
        split_bytes(signal.astype("<f4").tobytes(), 2, 4),
    )  # fmt: skip
    assert_matches_predict(windows, summary, answer)


def test_a_silent_stream_sends_silent_windows_and_a_silent_summary(unpaced: TestClient) -> None:
    silence = np.zeros(32_000, dtype="<i2").tobytes()
    _, windows, summary = stream_all(unpaced, "/stream", [silence])
    assert windows and all(w["silent"] and w["emotion"] is None for w in windows)
    assert summary["silent"] and summary["emotion"] is None and summary["windows"] == len(windows)


def closed_with(client: TestClient, url: str, send: list[bytes | str] = (), **kwargs) -> tuple:
    """Open ``url``, send ``send``, read until the server closes: (close, reason, messages)."""
    messages = []
    with client.websocket_connect(url, **kwargs) as ws:
        for item in send:
            (ws.send_text if isinstance(item, str) else ws.send_bytes)(item)
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                messages.append(ws.receive_json())
    return closed.value.code, closed.value.reason, messages


def assert_closed(result: tuple, close: StreamClose, words: str) -> list:
    code, reason, messages = result
    assert code == close.code, reason
    assert reason.startswith(f"{close.reason}: ") and words in reason
    return messages


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("encoding=mp3", "encoding 'mp3' is not supported"),
        ("sample_rate=96000", "96000 Hz is not supported"),
        ("sample_rate=4000&encoding=f32le", "4000 Hz is not supported"),
    ],
)
def test_an_unsupported_format_is_closed_before_any_audio(
    unpaced: TestClient, query: str, words: str
) -> None:
    messages = assert_closed(closed_with(unpaced, f"/stream?{query}"), UNSUPPORTED, words)
    assert messages == []  # not even the start message


@pytest.mark.parametrize(
    ("query", "send", "words"),
    [
        ("encoding=pcm_s16le", [b"\x00\x00", b"\x00\x01\x02"], "3 bytes"),
        ("encoding=f32le", [np.array([np.inf], "<f4").tobytes()], "NaN or infinite"),
        ("", ['{"event": "pause"}'], '{"event": "end"}'),
        ("", ["not json"], '{"event": "end"}'),
    ],
)
def test_malformed_frames_close_the_stream(
    unpaced: TestClient, query: str, send: list, words: str
) -> None:
    messages = assert_closed(closed_with(unpaced, f"/stream?{query}", send), MALFORMED, words)
    assert [m["event"] for m in messages] == ["start"]


def test_the_api_key_applies_from_the_header_or_the_query(tiny_model_path: Path) -> None:
    with client_with(tiny_model_path, api_keys=KEY, **UNPACED) as client:
        assert_closed(closed_with(client, "/stream"), UNAUTHORIZED, "needs a key")
        assert_closed(closed_with(client, "/stream?api_key=" + "x" * 24), UNAUTHORIZED, "not valid")
        for url, headers in [
            (f"/stream?api_key={KEY}", {}),
            ("/stream", {"Authorization": f"Bearer {KEY}"}),
        ]:
            _, windows, summary = stream_all_with(client, url, headers)
            assert summary["windows"] == len(windows) == 1


def stream_all_with(client: TestClient, url: str, headers: dict) -> tuple:
    pcm = (harmonic_tone(1.0, seed=1) * 32767).astype("<i2").tobytes()
    with client.websocket_connect(url, headers=headers) as ws:
        ws.receive_json()
        ws.send_bytes(pcm)
        ws.send_text(END)
        messages = [ws.receive_json(), ws.receive_json()]
    return None, messages[:-1], messages[-1]


def test_streams_beyond_the_limit_are_told_busy(tiny_model_path: Path) -> None:
    with client_with(tiny_model_path, max_streams=1) as client:
        with client.websocket_connect("/stream") as first:
            assert first.receive_json()["event"] == "start"
            assert_closed(closed_with(client, "/stream"), BUSY, "retry later")
        # The first one left: there is room again.
        assert closed_with(client, "/stream", [END])[0] == DONE.code


def test_an_idle_stream_is_closed(tiny_model_path: Path) -> None:
    with client_with(tiny_model_path, stream_idle_timeout_s=0.2) as client:
        assert_closed(closed_with(client, "/stream"), IDLE, "nothing received for 0.2 s")


def test_a_stream_over_the_maximum_length_is_closed(tiny_model_path: Path) -> None:
    one_second = np.zeros(16_000, "<i2").tobytes()
    with client_with(tiny_model_path, stream_max_duration_s=2.5, **UNPACED) as client:
        messages = assert_closed(
            closed_with(client, "/stream", [one_second] * 4), TOO_LONG, "limit is 2.5 s"
        )
    assert [m["event"] for m in messages].count("window") >= 2  # what was in was answered


def test_a_client_faster_than_the_allowed_pace_is_closed(tiny_model_path: Path) -> None:
    ten_seconds = np.zeros(160_000, "<i2").tobytes()
    with client_with(tiny_model_path, stream_max_speed=2, stream_burst_s=1) as client:
        assert_closed(closed_with(client, "/stream", [ten_seconds]), TOO_FAST, "at most 2x")


def test_metrics_count_streams_windows_and_closes(tiny_model_path: Path) -> None:
    pcm = (harmonic_tone(2.0, seed=1) * 32767).astype("<i2").tobytes()
    with client_with(tiny_model_path, **UNPACED) as client:
        stream_all(client, "/stream", [pcm])
        closed_with(client, "/stream?encoding=x")
        with client.websocket_connect("/stream") as ws:  # leaves without "end"
            ws.receive_json()
            ws.send_bytes(pcm)
            ws.receive_json()
        assert client.app.state.open_streams == 0
        text = client.get("/metrics").text
    assert 'ser_stream_closes_total{reason="done"} 1.0' in text
    assert 'ser_stream_closes_total{reason="unsupported"} 1.0' in text
    assert 'ser_stream_closes_total{reason="client_gone"} 1.0' in text
    assert 'ser_stream_windows_total{kind="scored"}' in text
    assert "ser_streams_open 0.0" in text


def test_a_full_upload_queue_refuses_new_streams(tiny_model_path: Path) -> None:
    with client_with(tiny_model_path, max_queued_requests=0) as client:
        admission = client.app.state.admission
        admission.admitted = admission.capacity  # every compute slot taken by uploads
        assert_closed(closed_with(client, "/stream"), BUSY, "queue is full")
        admission.admitted = 0
        assert closed_with(client, "/stream", [END])[0] == DONE.code


@pytest.mark.parametrize(
    "setting",
    [{"stream_max_speed": 0.5}, {"stream_idle_timeout_s": 0}, {"max_streams": -1},
     {"stream_max_duration_s": 0}, {"stream_burst_s": -1}],
)  # fmt: skip
def test_stream_settings_that_cannot_work_are_refused_at_startup(
    tiny_model_path: Path, setting: dict
) -> None:
    with pytest.raises(ValueError, match=next(iter(setting))):
        make_settings(tiny_model_path, **setting)
