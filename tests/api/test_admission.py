"""The bounded queue in front of the compute slots: admit, refuse with 503, recover."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from anyio import CapacityLimiter
from fastapi.testclient import TestClient

from ser_api.admission import Admission, ServiceBusyError
from ser_api.main import create_app
from tests.api.conftest import make_settings, upload
from tests.support.audio import harmonic_tone, wav_bytes


async def _fill_then_overflow() -> tuple[int, ServiceBusyError | None, bool]:
    admission = Admission(CapacityLimiter(2), max_queued=3, max_wait_s=1.0, retry_after_s=7)
    refused = None
    async with AsyncExitStack() as held:
        for _ in range(5):  # 2 running + 3 waiting
            await held.enter_async_context(admission.slot())
        admitted = admission.admitted
        try:
            async with admission.slot():
                pass
        except ServiceBusyError as error:
            refused = error
    # Everything released: the next request is admitted at once.
    async with admission.slot():
        recovered = admission.admitted == 1
    return admitted, refused, recovered


def test_full_queue_refuses_with_retry_after_and_recovers() -> None:
    admitted, refused, recovered = anyio.run(_fill_then_overflow)
    assert admitted == 5
    assert refused is not None and refused.status_code == 503
    assert refused.headers == {"Retry-After": "7"}
    assert recovered


def test_a_failed_request_frees_its_place() -> None:
    async def scenario() -> int:
        admission = Admission(CapacityLimiter(1), max_queued=0, max_wait_s=1.0, retry_after_s=1)
        with pytest.raises(ValueError):
            async with admission.slot():
                raise ValueError("decoding failed")
        return admission.admitted

    assert anyio.run(scenario) == 0


def test_a_full_queue_refuses_before_the_body_is_read(tiny_model_path: Path) -> None:
    settings = make_settings(tiny_model_path, max_concurrent_inferences=1, max_queued_requests=2)
    with TestClient(create_app(settings)) as client:
        admission = client.app.state.admission
        clip = wav_bytes(harmonic_tone(1.0))
        admission.admitted = admission.capacity  # as if 3 recordings were running or waiting
        for path, files in (
            ("/predict", upload(clip)),
            ("/predict/batch", {"files": ("a.wav", clip)}),
        ):
            refused = client.post(path, files=files)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert "busy" in refused.json()["detail"]
        # Refused before the body is parsed: a body that is not even a form gets 503, not 415.
        unread = client.post(
            "/predict", content=b"x" * 1000, headers={"content-type": "text/plain"}
        )
        assert unread.status_code == 503
        assert client.get("/health").status_code == 200  # never queued
        assert 'ser_errors_total{reason="overloaded"} 3.0' in client.get("/metrics").text
        admission.admitted = 0  # the load is gone: served at once
        assert client.post("/predict", files=upload(clip)).status_code == 200


def test_work_whose_turn_comes_after_its_deadline_is_refused_unrun() -> None:
    ran: list[str] = []

    async def scenario() -> ServiceBusyError | None:
        admission = Admission(CapacityLimiter(1), max_queued=1, max_wait_s=1.0, retry_after_s=2)
        async with admission.slot() as deadline:
            await admission.run(deadline, ran.append, "fresh")
        try:
            await admission.run(deadline - 3600.0, ran.append, "stale")  # waited an hour
        except ServiceBusyError as error:
            return error
        return None

    refused = anyio.run(scenario)
    assert ran == ["fresh"]
    assert refused is not None and refused.headers == {"Retry-After": "2"}
