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
from ser_features import max_windows
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_work_is_weighed_in_windows_at_the_worker_s_measured_speed() -> None:
    """Issue 31: a busy worker refuses, at once, a recording whose windows behind the work it
    holds would be answered after the target; an idle one takes anything; every finished
    recording measures the compute per window, a failed one does not."""
    clock = FakeClock()

    async def scenario() -> dict:
        admission = Admission(
            CapacityLimiter(2), max_queued=8, max_wait_s=1.0, retry_after_s=1,
            target_latency_s=2.0, seconds_per_window=0.1, clock=clock,
        )  # fmt: skip
        seen: dict = {}
        async with admission.work_for(400):  # a 10-minute file on an idle worker
            seen["idle_took_long_file"] = admission.work
            clock.now += 40.0  # 0.1 s a window, as the warm-up said
        # 10 windows held (1.0 s of work), then 9 more: 1.9 s, within 2 s.
        async with admission.work_for(10), admission.work_for(9):
            seen["admitted_within_target"] = admission.work
            try:
                async with admission.work_for(2):  # 2.1 s: over
                    pass
            except ServiceBusyError as error:
                seen["refused"] = error
            clock.now += 1.9  # the 9 windows took 1.9 s while 19 were held
        seen["after"] = admission.seconds_per_window
        with pytest.raises(ValueError):
            async with admission.work_for(50):
                clock.now += 0.01
                raise ValueError("undecodable")
        seen["after_failure"] = admission.seconds_per_window
        seen["work"] = admission.work
        return seen

    seen = anyio.run(scenario)
    assert seen["idle_took_long_file"] == 400 and seen["admitted_within_target"] == 19
    refused = seen["refused"]
    assert refused.status_code == 503 and refused.headers == {"Retry-After": "2"}  # ⌈1.9 s⌉
    assert "19 audio windows are ahead" in refused.detail and "2.1 s" in refused.detail
    # Busy seconds over windows finished, each finish discounting what came before by 0.9:
    # the prior (8 windows, 0.8 s), the file (400 in 40 s), the 9 (1.9 s of busy time while
    # they ran), then the 10 around them (no time left to count).
    busy, done = 0.8, 8.0
    for seconds, windows in ((40.0, 400), (1.9, 9), (0.0, 10)):
        busy, done = busy * 0.9 + seconds, done * 0.9 + windows
    assert seen["after"] == pytest.approx(busy / done)
    assert seen["after"] < 0.1  # busy time shared by 19 windows counted once
    # The undecodable one is not measured, and its work is gone.
    assert seen["after_failure"] == pytest.approx(seen["after"]) and seen["work"] == 0


def test_a_busy_worker_refuses_a_long_upload_at_once_and_still_serves_a_short_one(
    tiny_model_path: Path,
) -> None:
    settings = make_settings(tiny_model_path)
    with TestClient(create_app(settings)) as client:
        admission = client.app.state.admission
        assert admission.seconds_per_window > 0  # measured at start-up
        short, long = wav_bytes(harmonic_tone(3.0)), wav_bytes(harmonic_tone(30.0))

        def hold(windows: int, target_windows: float) -> None:
            """As if ``windows`` were admitted; the target fits ``target_windows``."""
            admission.work = windows
            admission.target_latency_s = admission.seconds_per_window * target_windows

        config = client.app.state.classifier.config
        n_short, n_long = max_windows(3.0, config), max_windows(30.0, config)
        fits = 5 + n_short + 0.5  # the short clip behind 5 windows, not the long one
        hold(5, fits)
        assert client.post("/predict", files=upload(short)).status_code == 200
        hold(5, fits)
        refused = client.post("/predict", files=upload(long))
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        ahead = f"5 audio windows are ahead of this recording's {n_long}"
        assert ahead in refused.json()["detail"]
        batch = [("files", (f"{i}.wav", short)) for i in range(6)]  # weighed together
        assert client.post("/predict/batch", files=batch).status_code == 503
        hold(0, fits)  # idle: any recording within the limits
        assert client.post("/predict", files=upload(long)).status_code == 200
        answered = client.post("/predict/batch", files=batch)
        assert answered.status_code == 200 and len(answered.json()["results"]) == 6
        assert admission.work == 0
