"""The HTTP client: contract parsing, retries with backoff, error detail propagation.

Most tests answer through ``httpx.MockTransport``; connection failures and timeouts use a
real socket on 127.0.0.1 because that is where those errors come from.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ser_ui import client as api

LABELS = ["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]


def probabilities(top: str = "happy", p: float = 0.7) -> dict[str, float]:
    rest = (1 - p) / (len(LABELS) - 1)
    return {label: p if label == top else rest for label in LABELS}


def api_prediction(**overrides: Any) -> dict[str, Any]:
    """A body shaped like ser_contract.PredictionResponse."""
    body = {
        "emotion": "happy",
        "confidence": 0.7,
        "uncertain": False,
        "arousal": 0.7,
        "valence": 0.56,
        "probabilities": probabilities(),
        "duration_s": 4.5,
        "sample_rate": 48_000,
        "channels": 2,
        "format": "WAV",
        "model_version": "2026.11-a",
        "segments": [
            {
                "start_s": 0.0,
                "end_s": 3.0,
                "silent": False,
                "emotion": "happy",
                "confidence": 0.7,
                "probabilities": probabilities(),
                "uncertain": False,
                "arousal": 0.7,
                "valence": 0.56,
            },
            {
                "start_s": 1.5,
                "end_s": 4.5,
                "silent": True,
                "emotion": None,
                "confidence": None,
                "probabilities": None,
                "uncertain": None,
                "arousal": None,
                "valence": None,
            },
        ],
        "timing": {"features_ms": 1.2, "inference_ms": 0.3},
    }
    return body | overrides


class Recorder:
    """A MockTransport handler that replays ``answers`` in order and records requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        request.read()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> tuple[api.ApiClient, list[float]]:
    sleeps: list[float] = []
    client = api.ApiClient(
        "http://api.test", transport=httpx.MockTransport(handler), sleep=sleeps.append, **kwargs
    )
    return client, sleeps


WAV = api.AudioFile("speech.wav", b"RIFF fake wav bytes")


# --------------------------------------------------------------------------------------
# Success paths


def test_predict_parses_the_api_contract_and_uploads_the_file() -> None:
    recorder = Recorder(httpx.Response(200, json=api_prediction()))
    client, _ = make_client(recorder)
    prediction = client.predict(WAV)

    assert prediction.emotion == "happy"
    assert prediction.confidence == pytest.approx(0.7)
    assert (prediction.uncertain, prediction.arousal, prediction.valence) == (False, 0.7, 0.56)
    assert (prediction.sample_rate, prediction.channels, prediction.format) == (48_000, 2, "WAV")
    first, second = prediction.segments
    assert (first.start_s, first.end_s, first.emotion, first.silent) == (0.0, 3.0, "happy", False)
    assert second.silent and second.emotion is None and second.probabilities is None
    assert second.arousal is None and second.valence is None

    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/predict")
    body = request.content
    assert b'name="file"; filename="speech.wav"' in body
    assert b"Content-Type: audio/wav" in body
    assert b"RIFF fake wav bytes" in body


def test_batch_pairs_results_and_refusals_with_their_files_in_order() -> None:
    body = {
        "results": [
            {"filename": "a.wav", "status_code": 200, "result": api_prediction(), "detail": None},
            {
                "filename": "b.flac",
                "status_code": 422,
                "result": None,
                "detail": "audio is silent",
            },
        ]
    }
    recorder = Recorder(httpx.Response(200, json=body))
    client, _ = make_client(recorder)
    first, second = client.predict_batch(
        [api.AudioFile("a.wav", b"a"), api.AudioFile("b.flac", b"b")]
    )

    assert first.ok and first.filename == "a.wav" and first.prediction.emotion == "happy"
    assert not second.ok and second.filename == "b.flac"
    assert second.error.detail == "audio is silent"
    assert second.error.status_code == 422
    request_body = recorder.requests[0].content
    assert request_body.count(b'name="files"') == 2
    assert b"Content-Type: audio/flac" in request_body


def test_empty_batch_sends_nothing() -> None:
    recorder = Recorder(httpx.Response(500))
    client, _ = make_client(recorder)
    assert client.predict_batch([]) == []
    assert recorder.requests == []


def test_model_info_and_limits() -> None:
    body = {
        "model_version": "2026.11-a",
        "labels": LABELS,
        "feature_config": {"window_s": 3.0},
        "input_shape": [None, 301, 146],
        "metrics": {"protocol": "held-out speakers", "test": {"accuracy": 0.7}},
        "training_data": {"corpora": ["RAVDESS"]},
        "license": "CC BY-NC-SA 4.0",
        "calibration": {
            "calibrated": True, "temperature": 1.02, "uncertain_below": 0.7,
            "arousal": dict.fromkeys(LABELS, 0.0), "valence": dict.fromkeys(LABELS, 0.0),
            "fitted_on": "validation speakers",
        },
        "runtime": {"provider": "CPUExecutionProvider"},
        "limits": {"max_upload_bytes": 134217728, "min_duration_s": 0.25,
                   "max_duration_s": 600.0, "max_batch_files": 16},
    }  # fmt: skip
    client, _ = make_client(Recorder(httpx.Response(200, json=body)))
    info = client.model_info()
    assert info.labels == LABELS
    assert info.metrics["protocol"] == "held-out speakers"
    assert info.license == "CC BY-NC-SA 4.0"
    assert info.limits.max_batch_files == 16 and info.limits.max_duration_s == 600.0
    assert info.calibration.uncertain_below == 0.7 and info.calibration.calibrated
    assert info.runtime == {"provider": "CPUExecutionProvider"}


def test_health() -> None:
    ready = {"status": "ok", "model_loaded": True, "model_version": "x", "uptime_s": 1.0}
    client, _ = make_client(Recorder(httpx.Response(200, json=ready)))
    assert client.health() == api.Health(**ready)


# --------------------------------------------------------------------------------------
# Speaker profiles and adapted answers (issue 24)


def api_speaker(**overrides: Any) -> dict[str, Any]:
    """A body shaped like ser_contract.SpeakerResponse (checked against it below)."""
    body = {
        "speaker": "spk-7f3a", "clips": 2, "seconds": 9.5, "windows": 5, "usable": False,
        "reason": "too little speech: 5 voiced window(s), at least 8 needed (add clips)",
        "created_at": "2026-12-06T19:00:00Z", "updated_at": "2026-12-06T19:00:00Z",
    }  # fmt: skip
    return api.Speaker.model_validate(body | overrides).model_dump(mode="json")


def api_adapted_prediction() -> dict[str, Any]:
    plain = {"emotion": "neutral", "confidence": 0.55, "uncertain": False, "arousal": 0.3,
             "valence": 0.1, "probabilities": probabilities("neutral", 0.55)}  # fmt: skip
    body = api_prediction(
        emotion="sad", probabilities=probabilities("sad", 0.7), speaker="spk-7f3a",
        adapted=True, adaptation_reason=None, plain=plain,
    )  # fmt: skip
    return api.Prediction.model_validate(body).model_dump(mode="json")


CLIPS = [api.AudioFile("calm.wav", b"RIFF calm"), api.AudioFile("angry.flac", b"fLaC angry")]


def test_enrol_uploads_every_clip_as_files_and_parses_the_profile() -> None:
    recorder = Recorder(httpx.Response(201, json=api_speaker()))
    client, _ = make_client(recorder)
    speaker = client.enrol(CLIPS)

    assert speaker == api.Speaker.model_validate(api_speaker())
    assert (speaker.speaker, speaker.clips, speaker.windows, speaker.usable) == (
        "spk-7f3a", 2, 5, False,
    )  # fmt: skip
    assert speaker.reason.startswith("too little speech")
    (request,) = recorder.requests
    assert (request.method, request.url.path, request.url.query) == ("POST", "/speakers", b"")
    body = request.content
    assert body.count(b'name="files"') == 2 and b'name="file";' not in body
    assert b'filename="calm.wav"' in body and b'filename="angry.flac"' in body
    assert b"RIFF calm" in body and b"fLaC angry" in body


def test_add_clips_posts_to_the_profile_and_returns_its_new_statistics() -> None:
    updated = api_speaker(clips=3, windows=9, usable=True, reason=None)
    recorder = Recorder(httpx.Response(200, json=updated))
    client, _ = make_client(recorder)
    speaker = client.add_clips("spk-7f3a", CLIPS[:1])
    assert speaker.usable and speaker.reason is None and speaker.clips == 3
    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/speakers/spk-7f3a/clips")
    assert request.content.count(b'name="files"') == 1


def test_list_speakers_parses_the_key_s_profiles() -> None:
    other = api_speaker(speaker="spk-9", clips=30, windows=41, usable=True, reason=None)
    recorder = Recorder(httpx.Response(200, json={"speakers": [api_speaker(), other]}))
    client, _ = make_client(recorder)
    listed = client.list_speakers()
    assert [(s.speaker, s.clips, s.usable) for s in listed] == [
        ("spk-7f3a", 2, False), ("spk-9", 30, True),
    ]  # fmt: skip
    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("GET", "/speakers")


def test_get_and_delete_address_the_profile_and_escape_its_id() -> None:
    recorder = Recorder(httpx.Response(200, json=api_speaker()), httpx.Response(204))
    client, _ = make_client(recorder)
    assert client.get_speaker("spk-7f3a").windows == 5
    assert client.delete_speaker("a b/../c") is None
    get, delete = recorder.requests
    assert (get.method, get.url.raw_path) == ("GET", b"/speakers/spk-7f3a")
    # An id is a path segment, never a path: "/" and "." cannot leave /speakers/.
    assert (delete.method, delete.url.raw_path) == ("DELETE", b"/speakers/a%20b%2F..%2Fc")
    with pytest.raises(ValueError):
        client.get_speaker("")
    with pytest.raises(ValueError):
        client.enrol([])


def test_unknown_profile_is_a_404_with_the_api_detail() -> None:
    detail = "Unknown speaker profile 'spk-gone'."
    recorder = Recorder(httpx.Response(404, json={"detail": detail}))
    client, sleeps = make_client(recorder)
    for call in (client.get_speaker, client.delete_speaker):
        with pytest.raises(api.ApiRejectedError) as caught:
            call("spk-gone")
        assert (caught.value.status_code, caught.value.detail) == (404, detail)
    with pytest.raises(api.ApiRejectedError, match="spk-gone"):
        client.add_clips("spk-gone", CLIPS)
    assert caught.value.endpoint == "DELETE /speakers/{id}"
    assert len(recorder.requests) == 3 and sleeps == []


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (422, "File 'angry.flac' could not be decoded as audio: Format not recognised."),
        (409, "This model has no speaker-adapted head: profiles cannot be used."),
    ],
)
def test_a_refused_enrolment_carries_the_api_detail_verbatim(status: int, detail: str) -> None:
    client, _ = make_client(Recorder(httpx.Response(status, json={"detail": detail})))
    with pytest.raises(api.ApiRejectedError) as caught:
        client.enrol(CLIPS)
    assert (caught.value.status_code, caught.value.detail) == (status, detail)
    assert caught.value.endpoint == "POST /speakers"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"detail": "enrolment crashed"}),
        httpx.Response(502, text="bad gateway"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
    ],
)
def test_an_enrolment_the_api_may_have_acted_on_is_not_sent_twice(
    failure: httpx.Response | Exception,
) -> None:
    # The clips may already be counted: sending them again would count them twice.
    recorder = Recorder(failure, httpx.Response(200, json=api_speaker()))
    client, sleeps = make_client(recorder)
    with pytest.raises((api.ApiServerError, api.ApiUnavailableError)):
        client.add_clips("spk-7f3a", CLIPS)
    assert len(recorder.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, headers={"Retry-After": "1"}, json={"detail": "busy"}),
        httpx.ConnectError("connection refused"),
    ],
)
def test_an_enrolment_the_api_never_saw_is_retried(failure: httpx.Response | Exception) -> None:
    recorder = Recorder(failure, httpx.Response(201, json=api_speaker()))
    client, sleeps = make_client(recorder)
    assert client.enrol(CLIPS).speaker == "spk-7f3a"
    assert len(recorder.requests) == 2 and len(sleeps) == 1
    assert all(b"fLaC angry" in request.content for request in recorder.requests)


def test_a_deletion_is_retried_like_a_prediction() -> None:
    recorder = Recorder(httpx.Response(500, json={"detail": "oops"}), httpx.Response(204))
    client, sleeps = make_client(recorder)
    client.delete_speaker("spk-7f3a")
    assert len(recorder.requests) == 2 and len(sleeps) == 1


def test_a_profile_not_in_the_contract_shape_is_a_protocol_error() -> None:
    body = api_speaker() | {"windows": "many"}
    client, _ = make_client(Recorder(httpx.Response(201, json=body)))
    with pytest.raises(api.ApiProtocolError, match="not a SpeakerResponse: windows"):
        client.enrol(CLIPS)


def test_predict_asks_for_a_speaker_profile_and_parses_both_answers() -> None:
    recorder = Recorder(httpx.Response(200, json=api_adapted_prediction()))
    client, _ = make_client(recorder)
    prediction = client.predict(WAV, speaker="spk 7/f3a")

    assert (prediction.speaker, prediction.adapted, prediction.emotion) == ("spk-7f3a", True, "sad")
    assert prediction.plain == api.Plain.model_validate(api_adapted_prediction()["plain"])
    assert prediction.plain.emotion == "neutral" and prediction.adaptation_reason is None
    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/predict")
    assert dict(request.url.params) == {"speaker": "spk 7/f3a"}
    assert b'name="file"; filename="speech.wav"' in request.content


def test_predict_adapt_self_and_plain_send_the_right_query() -> None:
    recorder = Recorder(httpx.Response(200, json=api_prediction()))
    client, _ = make_client(recorder)
    client.predict(WAV, adapt_self=True)
    client.predict(WAV)
    adapt_self, plain = recorder.requests
    assert dict(adapt_self.url.params) == {"adapt": "self"}
    assert plain.url.query == b""
    with pytest.raises(ValueError, match="not both"):
        client.predict(WAV, speaker="spk-7f3a", adapt_self=True)
    assert len(recorder.requests) == 2


def test_a_plain_prediction_reads_as_not_adapted() -> None:
    # The adaptation fields are additive: an answer without them is a plain one.
    client, _ = make_client(Recorder(httpx.Response(200, json=api_prediction())))
    prediction = client.predict(WAV)
    assert (prediction.speaker, prediction.adapted, prediction.plain) == (None, False, None)


# --------------------------------------------------------------------------------------
# Errors: the API's detail reaches the person verbatim


def test_rejection_carries_the_api_detail_verbatim_and_is_not_retried() -> None:
    detail = "file 'notes.wav' could not be decoded: Format not recognised."
    recorder = Recorder(httpx.Response(422, json={"detail": detail}))
    client, sleeps = make_client(recorder)
    with pytest.raises(api.ApiRejectedError) as caught:
        client.predict(WAV)
    assert caught.value.detail == detail
    assert caught.value.status_code == 422
    assert caught.value.endpoint == "POST /predict"
    assert detail in str(caught.value)
    assert len(recorder.requests) == 1 and sleeps == []


def test_validation_error_list_is_joined_into_one_readable_line() -> None:
    detail = [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]
    client, _ = make_client(Recorder(httpx.Response(422, json={"detail": detail})))
    with pytest.raises(api.ApiRejectedError, match=r"body\.file: Field required"):
        client.predict(WAV)


def test_non_json_error_body_is_shown_as_an_excerpt() -> None:
    html = "<html><body>413 Request Entity Too Large</body></html>"
    client, _ = make_client(Recorder(httpx.Response(413, text=html)))
    with pytest.raises(api.ApiRejectedError) as caught:
        client.predict(WAV)
    assert caught.value.detail == html


# --------------------------------------------------------------------------------------
# Retries


def test_5xx_is_retried_with_exponential_backoff_then_succeeds() -> None:
    recorder = Recorder(
        httpx.Response(503, json={"detail": "busy"}),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, json=api_prediction()),
    )
    client, sleeps = make_client(recorder)
    assert client.predict(WAV).emotion == "happy"
    assert len(recorder.requests) == 3
    assert sleeps == pytest.approx([api.BACKOFF_BASE_S, 2 * api.BACKOFF_BASE_S])
    # Every try re-sends the whole file, not an exhausted stream.
    assert all(b"RIFF fake wav bytes" in request.content for request in recorder.requests)


def test_persistent_5xx_raises_server_error_with_the_last_detail() -> None:
    recorder = Recorder(httpx.Response(500, json={"detail": "model crashed"}))
    client, sleeps = make_client(recorder, max_attempts=4)
    with pytest.raises(api.ApiServerError) as caught:
        client.predict(WAV)
    assert caught.value.detail == "model crashed" and caught.value.status_code == 500
    assert len(recorder.requests) == 4 and len(sleeps) == 3


def test_retry_after_is_honoured_but_capped() -> None:
    recorder = Recorder(
        httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": "warming up"}),
        httpx.Response(503, headers={"Retry-After": "3600"}, json={"detail": "warming up"}),
        httpx.Response(200, json=api_prediction()),
    )
    client, sleeps = make_client(recorder)
    client.predict(WAV)
    assert sleeps == [2.0, api.MAX_RETRY_AFTER_S]


def test_busy_503_is_retried_longer_telling_the_page_then_raises_busy() -> None:
    recorder = Recorder(
        httpx.Response(503, headers={"Retry-After": "1"}, json={"detail": "the service is busy"})
    )
    notices: list[tuple[float, int]] = []
    client, sleeps = make_client(
        recorder, on_busy=lambda wait, attempt: notices.append((wait, attempt))
    )
    with pytest.raises(api.ApiBusyError) as caught:
        client.predict(WAV)
    assert caught.value.status_code == 503 and caught.value.detail == "the service is busy"
    assert len(recorder.requests) == api.MAX_BUSY_ATTEMPTS > api.MAX_ATTEMPTS
    assert [wait for wait, _ in notices] == sleeps
    assert [attempt for _, attempt in notices] == list(range(1, api.MAX_BUSY_ATTEMPTS))
    assert max(sleeps) <= api.MAX_RETRY_AFTER_S


def test_busy_then_served() -> None:
    recorder = Recorder(
        httpx.Response(503, headers={"Retry-After": "1"}, json={"detail": "busy"}),
        httpx.Response(200, json=api_prediction()),
    )
    client, sleeps = make_client(recorder)
    assert client.predict(WAV).emotion == "happy"
    assert sleeps == [1.0]


def test_api_key_is_sent_as_bearer() -> None:
    recorder = Recorder(httpx.Response(200, json=api_prediction()))
    client, _ = make_client(recorder, api_key="k" * 20)
    client.predict(WAV)
    assert recorder.requests[0].headers["authorization"] == "Bearer " + "k" * 20


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"SER_UI_API_KEY": "ui-key"}, "Bearer ui-key"),
        ({"SER_API_KEYS": " first-key , second-key"}, "Bearer first-key"),
        ({"SER_UI_API_KEY": "ui-key", "SER_API_KEYS": "first-key"}, "Bearer ui-key"),
    ],
)
def test_from_env_reads_the_api_key(environ: dict[str, str], expected: str | None) -> None:
    client = api.ApiClient.from_env(environ)
    assert client._http.headers.get("authorization") == expected


def test_dropped_connection_is_retried() -> None:
    recorder = Recorder(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(200, json=api_prediction()),
    )
    client, sleeps = make_client(recorder)
    assert client.predict(WAV).emotion == "happy"
    assert len(sleeps) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_nothing_listening_gives_unavailable_after_all_tries() -> None:
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"
    client = api.ApiClient(url, sleep=sleeps.append)
    with pytest.raises(api.ApiUnavailableError) as caught:
        client.model_info()
    assert url in caught.value.detail
    assert caught.value.status_code is None
    assert len(sleeps) == api.MAX_ATTEMPTS - 1


@pytest.fixture
def slow_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that takes 2 s to answer; yields (url, paths seen)."""
    seen: list[str] = []

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(2.0)
            body = json.dumps(api_prediction()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_slow_answer_times_out_once_without_resending(slow_server: tuple[str, list[str]]) -> None:
    url, seen = slow_server
    sleeps: list[float] = []
    client = api.ApiClient(url, read_timeout_s=0.3, sleep=sleeps.append)
    started = time.monotonic()
    with pytest.raises(api.ApiTimeoutError, match=r"did not answer within 0\.3 s"):
        client.predict(WAV)
    assert time.monotonic() - started < 1.5
    assert seen == ["/predict"] and sleeps == []


# --------------------------------------------------------------------------------------
# Contract drift surfaces as one clear error


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (api_prediction(emotion=None), "emotion: Input should be a valid string"),
        (api_prediction(confidence="high"), "confidence: Input should be a valid number"),
        (api_prediction(arousal=1.5), "arousal: Input should be less than or equal to 1"),
        (api_prediction(probabilities=[0.5, 0.5]), "probabilities: Input should be an object"),
        (api_prediction(probabilities={"happy": "x"}), "probabilities.happy: Input should be"),
        (api_prediction(uncertain=None), "uncertain: Input should be a valid boolean"),
        (api_prediction(segments=[{"start_s": 0}]), "segments.0.end_s: Field required (and "),
        ([api_prediction()], "answer is not a PredictionResponse: body: Input should be"),
    ],
)
def test_unexpected_shapes_raise_protocol_errors(body: Any, message: str) -> None:
    content = json.dumps(body).encode()  # json.dumps writes NaN, as a sloppy server might
    response = httpx.Response(200, content=content, headers={"Content-Type": "application/json"})
    client, _ = make_client(Recorder(response))
    with pytest.raises(api.ApiProtocolError) as caught:
        client.predict(WAV)
    assert message in str(caught.value)


def test_batch_result_count_mismatch_is_a_protocol_error() -> None:
    client, _ = make_client(Recorder(httpx.Response(200, json={"results": []})))
    with pytest.raises(api.ApiProtocolError, match="sent 1 files but got 0 results"):
        client.predict_batch([WAV])


def test_non_json_success_is_a_protocol_error() -> None:
    client, _ = make_client(Recorder(httpx.Response(200, text="<html>proxy login</html>")))
    with pytest.raises(api.ApiProtocolError, match="Invalid JSON"):
        client.model_info()


# --------------------------------------------------------------------------------------
# Configuration


def test_from_env_reads_url_and_timeout() -> None:
    client = api.ApiClient.from_env(
        {"SER_API_URL": "http://api.internal:9000/", "SER_UI_TIMEOUT_S": "12.5"}
    )
    assert client.base_url == "http://api.internal:9000"
    assert client.read_timeout_s == 12.5
    default = api.ApiClient.from_env({})
    assert default.base_url == api.DEFAULT_API_URL
    assert default.read_timeout_s == api.DEFAULT_READ_TIMEOUT_S


@pytest.mark.parametrize("value", ["soon", "0", "-3", "inf"])
def test_from_env_refuses_a_bad_timeout_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="SER_UI_TIMEOUT_S"):
        api.ApiClient.from_env({"SER_UI_TIMEOUT_S": value})
