"""``WS /stream?speaker=ID`` (issue 24): every window and the summary adapted as
``/predict?speaker=ID`` adapts the same recording; a profile that cannot be used closes the
stream before any audio."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ser_contract.stream import DONE, UNSUPPORTED, StreamStart, StreamSummary, StreamWindow
from tests.api.conftest import upload
from tests.api.test_speakers import CLIP1, CLIP2, create, service
from tests.api.test_stream import UNPACED, assert_closed, assert_matches_predict, closed_with
from tests.support.audio import harmonic_tone, wav_bytes

pytestmark = pytest.mark.training  # the tiny v3 models are exported with TensorFlow

END = json.dumps({"event": "end"})
# Voiced from its first to its last sample: /predict trims nothing, so the stream's windows
# are /predict's (ser_inference.stream).
SPEECH = wav_bytes(harmonic_tone(7.0, seed=5))


def pcm(wav: bytes) -> bytes:
    return soundfile.read(io.BytesIO(wav), dtype="int16")[0].astype("<i2").tobytes()


def stream(client: TestClient, url: str, data: bytes) -> tuple[dict, list, dict]:
    """(start message as sent, windows, summary) of one stream sending ``data`` in 0.5-s frames."""
    with client.websocket_connect(url) as ws:
        start = ws.receive_json()
        StreamStart.model_validate(start)  # still a valid start for every client
        step = 16_000  # bytes: 0.5 s of 16-bit 16-kHz audio
        for offset in range(0, len(data), step):
            ws.send_bytes(data[offset : offset + step])
        ws.send_text(END)
        messages = []
        while not messages or messages[-1]["event"] != "summary":
            messages.append(ws.receive_json())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == DONE.code
    windows = [StreamWindow.model_validate(m).model_dump() for m in messages[:-1]]
    return start, windows, StreamSummary.model_validate(messages[-1]).model_dump()


def test_a_stream_with_a_usable_profile_is_answered_by_the_adapted_head(
    adapted: Path, tmp_path: Path
) -> None:
    with service(adapted, tmp_path / "speakers.sqlite3", **UNPACED) as client:
        speaker = create(client, CLIP1, CLIP2)["speaker"]
        answer = client.post(f"/predict?speaker={speaker}", files=upload(SPEECH)).json()
        plain = client.post("/predict", files=upload(SPEECH)).json()
        start, windows, summary = stream(client, f"/stream?speaker={speaker}", pcm(SPEECH))
        plain_start, _, plain_summary = stream(client, "/stream", pcm(SPEECH))
    assert answer["adapted"] and len(windows) == len(answer["segments"]) == 4
    assert (start["speaker"], start["adapted"], start["adaptation_reason"]) == (speaker, True, None)
    assert_matches_predict(windows, summary, answer)
    assert not np.allclose(
        list(summary["probabilities"].values()), list(plain["probabilities"].values()), atol=1e-3
    )
    # Without ?speaker: no profile, the plain answers.
    assert (plain_start["speaker"], plain_start["adapted"]) == (None, False)
    assert plain_summary["probabilities"] == pytest.approx(plain["probabilities"], abs=1e-6)


def test_a_stream_with_an_unusable_profile_is_answered_plainly_and_told_why(
    adapted: Path, tmp_path: Path
) -> None:
    with service(adapted, tmp_path / "speakers.sqlite3", **UNPACED) as client:
        body = create(client, CLIP1)
        plain = client.post("/predict", files=upload(SPEECH)).json()
        start, windows, summary = stream(client, f"/stream?speaker={body['speaker']}", pcm(SPEECH))
    assert (start["adapted"], start["adaptation_reason"]) == (False, body["reason"])
    assert_matches_predict(windows, summary, plain)


def test_a_profile_that_cannot_be_used_closes_the_stream_before_any_audio(
    adapted: Path, tiny_v3_model: Path, tmp_path: Path
) -> None:
    key = "k" * 24
    with service(adapted, tmp_path / "a.sqlite3", api_keys=[key, "o" * 24]) as client:
        auth = {"headers": {"Authorization": f"Bearer {key}"}}
        other = {"headers": {"Authorization": f"Bearer {'o' * 24}"}}
        speaker = create(client, CLIP1, CLIP2, **auth)["speaker"]
        unknown = closed_with(client, "/stream?speaker=AAAAAAAAAAAAAAAAAAAAAA", **auth)
        theirs = closed_with(client, f"/stream?speaker={speaker}", **other)
        odd = closed_with(client, "/stream?speaker=%00..%2F", **auth)
        self_adapt = closed_with(client, "/stream?adapt=self", **auth)
        by_query = closed_with(client, f"/stream?speaker={speaker}&api_key={key}", [END])
    assert_closed(unknown, UNSUPPORTED, "no speaker profile 'AAAAAAAAAAAAAAAAAAAAAA'")
    assert_closed(theirs, UNSUPPORTED, f"no speaker profile '{speaker}'")
    assert_closed(odd, UNSUPPORTED, "no speaker profile with that id")
    assert_closed(self_adapt, UNSUPPORTED, "adapt=self needs the whole recording")
    start = by_query[2][0]  # the key in the query owns the profile too
    assert by_query[0] == DONE.code and start["speaker"] == speaker and start["adapted"]
    with service(tiny_v3_model, tmp_path / "b.sqlite3") as client:
        no_head = closed_with(client, "/stream?speaker=AAAAAAAAAAAAAAAAAAAAAA")
    assert_closed(no_head, UNSUPPORTED, "has no speaker-adapted head")
