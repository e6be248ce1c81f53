"""Hostile and odd uploads: each gets its documented status, none harms the next request."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import SMALL_MAX_DURATION_S, SMALL_UPLOAD_LIMIT
from tests.support.audio import harmonic_tone, wav_bytes

RATE = 16_000  # Hz


def _tone(seconds: float = 1.5, rate: int = RATE) -> np.ndarray:
    return harmonic_tone(seconds, rate=rate, seed=7)


def _wav_claiming_ten_hours() -> bytes:
    data = bytearray(wav_bytes(_tone(1.0)))
    claimed = 10 * 3600 * RATE * 2  # bytes of 16-bit mono samples in 10 hours
    struct.pack_into("<I", data, 4, claimed + 36)  # RIFF chunk size
    struct.pack_into("<I", data, 40, claimed)  # data chunk size
    return bytes(data)


def _float64_with_nan() -> bytes:
    samples = _tone().astype(np.float64)
    samples[100:200] = np.nan
    return wav_bytes(samples, subtype="DOUBLE")


def _float_with_inf() -> bytes:
    samples = _tone()
    samples[5] = np.inf
    return wav_bytes(samples, subtype="FLOAT")


def _six_channels() -> bytes:
    return wav_bytes(np.stack([_tone() * (0.3 + 0.1 * c) for c in range(6)], axis=1))


def _aiff_named_wav() -> bytes:
    return wav_bytes(_tone(), fmt="AIFF")


def _quiet_noise() -> bytes:
    # -80 dBFS hiss: above digital silence, below the model's silence threshold (-70 dBFS).
    return wav_bytes(np.random.default_rng(0).normal(0, 1e-4, RATE * 2).astype(np.float32))


def _jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(range(256)) * 4 + b"\xff\xd9"


@dataclass(frozen=True)
class Case:
    """One request and what the service must answer."""

    name: str
    status: int
    files: Callable[[], Any] | None = None  # → value for TestClient(files=...)
    kwargs: Callable[[], dict[str, Any]] | None = None  # other request arguments
    detail: str | None = None  # substring the error detail must contain


def _file(data: Callable[[], bytes], name: str = "x.wav", ctype: str = "audio/wav"):
    return lambda: {"file": (name, data(), ctype)}


CASES = [
    Case("zero bytes", 422, _file(lambda: b""), detail="empty"),
    Case("text renamed .wav", 422, _file(lambda: b"hello, I am text\n" * 50), detail="WAV"),
    Case("truncated header", 422, _file(lambda: wav_bytes(_tone())[:30])),
    Case("RIFF magic then garbage", 422, _file(lambda: b"RIFF\x24\x00\x00\x00WAVE" + b"\x01" * 64)),
    # libsndfile trusts the bytes present, not the claim: it is the 1-s file it really is.
    Case("WAV header claiming 10 hours", 200, _file(_wav_claiming_ten_hours)),
    Case("1 sample", 422, _file(lambda: wav_bytes(np.array([0.5], np.float32))), detail="0.25"),
    Case("0.1 s", 422, _file(lambda: wav_bytes(_tone(0.1))), detail="at least"),
    Case("8 kHz", 200, _file(lambda: wav_bytes(_tone(rate=8_000), rate=8_000))),
    Case("96 kHz", 200, _file(lambda: wav_bytes(_tone(rate=96_000), rate=96_000))),
    Case("2 kHz (no speech band)", 422, _file(lambda: wav_bytes(_tone(rate=2_000), rate=2_000))),
    Case("6 channels", 200, _file(_six_channels)),
    Case("24-bit PCM", 200, _file(lambda: wav_bytes(_tone(), subtype="PCM_24"))),
    Case("8-bit unsigned PCM", 200, _file(lambda: wav_bytes(_tone(), subtype="PCM_U8"))),
    Case("float64 with NaN", 422, _file(_float64_with_nan), detail="NaN"),
    Case("float32 with inf", 422, _file(_float_with_inf), detail="NaN or infinite"),
    Case("clipping float (±3 full scale)", 200, _file(lambda: wav_bytes(_tone() * 6, subtype="FLOAT"))),
    Case("hard-clipped PCM", 200, _file(lambda: wav_bytes(np.clip(_tone() * 20, -1, 1)))),
    Case("DC offset", 200, _file(lambda: wav_bytes(_tone() * 0.4 + 0.5))),
    Case("pure digital silence", 422, _file(lambda: wav_bytes(np.zeros(RATE * 2, np.float32))), detail="silent"),
    Case("quiet hiss only", 422, _file(_quiet_noise), detail="no speech"),
    Case("longer than the duration limit", 422, _file(lambda: wav_bytes(_tone(SMALL_MAX_DURATION_S + 5, rate=8_000), rate=8_000, subtype="PCM_U8")), detail="limit"),
    Case("body over the upload limit", 413, _file(lambda: b"\0" * (SMALL_UPLOAD_LIMIT + 1)), detail="limit"),
    Case("wrong field name", 400, lambda: {"audio": ("x.wav", wav_bytes(_tone()), "audio/wav")}, detail="'file'"),
    Case("two files", 400, lambda: [("file", ("a.wav", wav_bytes(_tone()), "audio/wav"))] * 2, detail="exactly one"),
    Case("JPEG with an audio content type", 422, _file(_jpeg)),
    Case("JPEG declared image/jpeg", 415, _file(_jpeg, "x.jpg", "image/jpeg"), detail="not audio"),
    Case("OGG Vorbis", 200, _file(lambda: wav_bytes(_tone(), fmt="OGG", subtype="VORBIS"), "x.ogg", "audio/ogg")),
    Case("FLAC", 200, _file(lambda: wav_bytes(_tone(), fmt="FLAC"), "x.flac", "audio/flac")),
    Case("AIFF bytes in a .wav", 200, _file(_aiff_named_wav)),
    Case("no content type on the part", 200, _file(lambda: wav_bytes(_tone()), "x.wav", "")),
    Case("odd file name", 200, _file(lambda: wav_bytes(_tone()), "../../etc/пароль\".wav")),
    Case("JSON body", 415, kwargs=lambda: {"json": {"file": "x.wav"}}, detail="multipart"),
    Case("empty POST", 415, kwargs=lambda: {}, detail="multipart"),
    Case("field 'file' is text", 400, kwargs=lambda: {"data": {"file": "x"}, "files": {"other": ("o", b"1")}}, detail="not a file"),
]  # fmt: skip


def _send(client: TestClient, case: Case):
    kwargs = case.kwargs() if case.kwargs else {}
    if case.files:
        kwargs["files"] = case.files()
    return client.post("/predict", **kwargs)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_gets_its_status(strict_client: TestClient, case: Case) -> None:
    response = _send(strict_client, case)
    assert response.status_code == case.status, response.text
    body = response.json()
    if case.status == 200:
        assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        return
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str) and 10 < len(body["detail"]) < 400
    assert "Traceback" not in body["detail"] and 'File "' not in body["detail"]
    if case.detail:
        assert case.detail in body["detail"]


def test_service_still_answers_correctly_after_every_hostile_input(
    strict_client: TestClient,
) -> None:
    reference = wav_bytes(_tone(2.0))
    before = strict_client.post("/predict", files={"file": ("r.wav", reference, "audio/wav")})
    for case in CASES:
        _send(strict_client, case)
    after = strict_client.post("/predict", files={"file": ("r.wav", reference, "audio/wav")})
    assert before.status_code == after.status_code == 200
    first, second = before.json(), after.json()
    first.pop("timing"), second.pop("timing")
    assert first == second
    assert strict_client.get("/health").json()["status"] == "ok"


def test_chunked_body_over_the_limit_is_cut_off(strict_client: TestClient) -> None:
    """No Content-Length: the limit must be enforced while the body streams in."""
    boundary = "hostileboundary"
    chunk = b"\0" * 65_536
    sent = {"bytes": 0}

    def body():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        yield head
        for _ in range(4 * SMALL_UPLOAD_LIMIT // len(chunk)):
            sent["bytes"] += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = strict_client.post(
        "/predict",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["detail"]
