"""The real service (ser-api) with two worker processes: what only a live server shows.

Metrics summed over the workers, load shedding with 503 + Retry-After, a trickling client
cut off without blocking others, and a killed worker replaced while the others keep
answering. Waits are bounded; nothing here asserts on durations.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bench.http_load import worker_pids
from tests.support.audio import harmonic_tone, wav_bytes
from tests.ui.live_servers import api_import_problem, live_api_process

pytestmark = pytest.mark.slow

WORKERS = 2
BODY_TIMEOUT_S = 2  # s: the trickling client is cut off after this
WAIT_LIMIT_S = 60.0  # s: bound on every wait for the service to reach a state
CLIP = wav_bytes(harmonic_tone(3.0, seed=3))
LONG_CLIP = wav_bytes(harmonic_tone(30.0, seed=4))


@dataclass
class Service:
    url: str
    pid: int  # uvicorn's supervisor
    metrics_dir: Path


@contextmanager
def _two_workers(factory: pytest.TempPathFactory, name: str, **settings: str) -> Iterator[Service]:
    """ser-api with WORKERS workers sharing a metrics directory, once every worker is up."""
    if problem := api_import_problem():
        pytest.skip(problem)
    workdir = factory.mktemp(name)
    metrics_dir = workdir / "metrics"
    settings["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    with live_api_process(workdir, WORKERS, **settings) as (url, process):
        deadline = time.monotonic() + WAIT_LIMIT_S
        while len(worker_pids(process.pid)) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.2)
        yield Service(url, process.pid, metrics_dir)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Tiny queue (1 running + 1 waiting per worker) and a short body timeout."""
    with _two_workers(
        tmp_path_factory,
        "live-api",
        SER_MAX_CONCURRENT_INFERENCES="1",
        SER_MAX_QUEUED_REQUESTS="1",
        SER_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
    ) as running:
        yield running


def _metric_total(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_report_every_worker(service: Service) -> None:
    before = _metric_total(
        httpx.get(f"{service.url}/metrics").text, "ser_http_requests_total", route="/health"
    )
    requests = 60
    for _ in range(requests):  # a new connection each: the kernel spreads them over workers
        assert httpx.get(f"{service.url}/health").status_code == 200
    totals = [
        _metric_total(
            httpx.get(f"{service.url}/metrics").text, "ser_http_requests_total", route="/health"
        )
        for _ in range(6)
    ]
    # Whichever worker answers the scrape, it reports the requests of both.
    assert totals == [before + requests] * len(totals)
    pids = {
        int(m.group(1))
        for p in service.metrics_dir.glob("counter_*.db")
        if (m := re.search(r"_(\d+)\.db$", p.name))
    }
    assert len(pids) >= WORKERS


async def _burst(url: str, clients: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=WAIT_LIMIT_S, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post("/predict", files={"file": ("long.wav", LONG_CLIP)})
                for _ in range(clients)
            )
        )


def test_overload_is_shed_with_503_and_retry_after_then_recovers(service: Service) -> None:
    # 2 workers × (1 running + 1 queued) = 4 places for 16 simultaneous 30-s recordings.
    responses = asyncio.run(_burst(service.url, 16))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= 1 and statuses[503] >= 1, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            assert "busy" in response.json()["detail"]
    # Load gone: the very next request is served.
    assert httpx.post(f"{service.url}/predict", files={"file": ("c.wav", CLIP)}).status_code == 200
    metrics = httpx.get(f"{service.url}/metrics").text
    assert _metric_total(metrics, "ser_errors_total", reason="overloaded") >= statuses[503]


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection.

    The head and the body of one reply may arrive in separate TCP segments, so a
    single ``recv`` can return the head alone. A reset after the reply (the
    server closing with the trickled bytes unread) ends the reply too.
    """
    chunks = []
    try:
        while chunk := connection.recv(4096):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def test_trickling_client_is_cut_off_and_blocks_nobody(service: Service) -> None:
    parts = urlsplit(service.url)
    slow = socket.create_connection((parts.hostname, parts.port), timeout=WAIT_LIMIT_S)
    head = (
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        '--b\r\nContent-Disposition: form-data; name="file"; filename="slow.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    )  # then the file's bytes, one at a time
    slow.sendall(head.encode())
    stop = threading.Event()

    def trickle() -> None:
        try:
            while not stop.wait(0.1):
                slow.sendall(b"x")
        except OSError:  # the server closed the connection: what should happen
            pass

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        # While the slow body is still arriving, other clients are answered.
        for _ in range(3):
            answer = httpx.post(f"{service.url}/predict", files={"file": ("c.wav", CLIP)})
            assert answer.status_code == 200
        assert trickler.is_alive()
        reply = _read_until_closed(slow)  # blocks until the server gives up on the body
    finally:
        stop.set()
        trickler.join(timeout=5)
        slow.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"did not arrive within" in reply


@pytest.fixture(scope="module")
def roomy_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Default queue: with one worker gone, the other must absorb the load without 503s."""
    with _two_workers(tmp_path_factory, "live-api-kill") as running:
        yield running


def test_killed_worker_is_replaced_while_the_other_keeps_answering(roomy_service: Service) -> None:
    clients = 4
    outcomes: list[int | str] = []  # status codes, or the transport error's type
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=roomy_service.url, timeout=WAIT_LIMIT_S) as http:
            while not stop.is_set():
                try:
                    outcomes.append(
                        http.post("/predict", files={"file": ("c.wav", CLIP)}).status_code
                    )
                except httpx.TransportError as error:
                    outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + WAIT_LIMIT_S
        while outcomes.count(200) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = worker_pids(roomy_service.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        killed_at = len(outcomes)
        replaced: set[int] = set()
        while time.monotonic() < deadline:
            replaced = worker_pids(roomy_service.pid) - before
            if replaced and outcomes[killed_at:].count(200) >= 40:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT_LIMIT_S)
    after_kill = Counter(outcomes[killed_at:])
    assert replaced, "uvicorn did not start a new worker"
    assert after_kill[200] >= 40, after_kill
    # No answer is a 5xx; only requests in flight on the killed worker (at most one per
    # client) may have lost their connection.
    assert not [o for o in outcomes if isinstance(o, int) and o >= 500], Counter(outcomes)
    lost = sum(n for outcome, n in Counter(outcomes).items() if isinstance(outcome, str))
    assert lost <= clients, Counter(outcomes)
    assert httpx.get(f"{roomy_service.url}/health").status_code == 200
