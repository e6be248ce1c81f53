"""A real uvicorn process on 127.0.0.1: cold start, concurrent load, a 10-minute file, RSS.

The client is asyncio + httpx in this process; the server is a separate process, so both
compete for the same cores, as they would on a single small host.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.client import hammer, multipart
from bench.common import (
    CLIP_RATE,
    CLIP_S,
    REPO,
    compare_model,
    describe,
    model_path,
    speech_like,
    wav,
)

HOST = "127.0.0.1"  # loopback only
CONCURRENCY = 8
WORKERS = 2  # as make run and the container serve
LOAD_REQUESTS = 3_000
LOAD_MAX_S = 60.0  # s: stop the load phase after this even if requests remain
STARTUP_TIMEOUT_S = 60.0
COLD_STARTS = 3  # per model when two are compared, taking turns


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_pids(supervisor: int) -> set[int]:
    """uvicorn's worker processes under ``supervisor`` (its spawned multiprocessing children)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    pids = set()
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        if b"spawn_main" in command:
            pids.add(pid)
    return pids


def worker_rss_mib(server: Server) -> dict[int, float]:
    """Resident memory of each serving process: the workers, or the single process."""
    pids = worker_pids(server.process.pid) if server.workers > 1 else {server.process.pid}
    return {pid: round(_rss_mib(pid), 1) for pid in sorted(pids)}


class Server:
    """``ser-api`` serving ``app`` (the API by default) in a subprocess, logs to a temp file."""

    def __init__(
        self,
        model: Path,
        workers: int = 1,
        env: dict[str, str] | None = None,
        app: str = "ser_api.main:app",
    ) -> None:
        self.port = _free_port()
        self.workers = workers
        self.url = f"http://{HOST}:{self.port}"
        # Outlives this method: the server writes to it until stop().
        self.log = tempfile.NamedTemporaryFile(prefix="ser-bench-", suffix=".log", delete=False)  # noqa: SIM115
        base = {k: v for k, v in os.environ.items() if not k.startswith("SER_")}
        environment = base | {"SER_MODEL_PATH": str(model), "SER_ORT_THREADS": "1"} | (env or {})
        if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in environment:
            # As make run does: the workers share one metrics directory, fresh for this run.
            environment["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ser-metrics-")
        self.started = time.perf_counter()
        environment |= {"SER_HOST": HOST, "SER_PORT": str(self.port),
                        "SER_WORKERS": str(workers)}  # fmt: skip
        # ser-api, as make run and the container start it: one SO_REUSEPORT socket per worker.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ser_api.serve", app],
            cwd=REPO, env=environment, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def first_answer(server: Server, clip: bytes, headers: dict[str, str] | None = None) -> float:
    """Seconds from process start to the first 200 from /predict."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=headers) as client:
        deadline = time.perf_counter() + STARTUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited; see {server.log.name}")
            try:
                response = await client.post("/predict", files={"file": ("c.wav", clip)})
                if response.status_code == 200:
                    return time.perf_counter() - server.started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError("server did not answer in time")


async def long_file_timing(url: str, seconds: float = 600.0) -> dict:
    data = wav(speech_like(seconds, 16_000, seed=5), 16_000)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        times, segments = [], 0
        for _ in range(3):
            started = time.perf_counter()
            response = await client.post("/predict", files={"file": ("long.wav", data)})
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            segments = len(response.json()["segments"])
    return {
        "best_s": round(min(times), 3),
        "median_s": round(sorted(times)[1], 3),
        "upload_mib": round(len(data) / 2**20, 1),
        "segments": segments,
        "server_timing_ms": response.json()["timing"],
    }


def serve_load(server: Server, raw: bytes, total: int) -> dict:
    """Warm up, then ``total`` requests from CONCURRENCY keep-alive clients."""
    asyncio.run(hammer(server.url, lambda i: raw, CONCURRENCY, 300, 30))
    return asyncio.run(hammer(server.url, lambda i: raw, CONCURRENCY, total, LOAD_MAX_S)).summary(
        CONCURRENCY
    )


def _rss_after(server: Server, raw: bytes, count: int) -> dict:
    before = worker_rss_mib(server)
    checkpoints = {}
    done = 0
    while done < count:
        batch = min(2_000, count - done)
        asyncio.run(hammer(server.url, lambda i: raw, CONCURRENCY, batch, 600))
        done += batch
        checkpoints[done] = worker_rss_mib(server)
    return {"rss_before_mib": before, "rss_after_mib": checkpoints[done],
            "requests": count, "checkpoints_mib": checkpoints}  # fmt: skip


def run(
    rss_requests: int = 10_000, load_requests: int = LOAD_REQUESTS, workers: int = WORKERS
) -> list[dict]:
    model, model_desc = model_path()
    clip = wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE)
    raw = multipart("/predict", [("file", "clip.wav", clip, "audio/wav")])
    clip_desc = f"{CLIP_S:g}-s 16-bit mono WAV at {CLIP_RATE // 1000} kHz; model: {model_desc}"
    server = Server(model, workers=workers)
    try:
        cold = asyncio.run(first_answer(server, clip))
        loaded = serve_load(server, raw, load_requests)
        long_file = asyncio.run(long_file_timing(server.url))
        rss = _rss_after(server, raw, rss_requests)
    finally:
        server.stop()
    # The yardstick in the same run: same server program, workers, client and clip.
    yardstick = Server(model, workers=workers, app="bench.decode_only:app")
    try:
        asyncio.run(first_answer(yardstick, clip))
        decode_only = serve_load(yardstick, raw, load_requests)
    finally:
        yardstick.stop()
    loaded["ratio_to_decode_only"] = round(
        loaded["throughput_rps"] / decode_only["throughput_rps"], 2
    )
    command = (
        f"python -m bench.run_all (ser-api, {workers} workers, SER_ORT_THREADS=1; "
        "load client bench/client.py in the benchmark process)"
    )
    return [
        {"name": "cold start to first answer", "input": clip_desc, "command": command,
         "results": {"seconds": round(cold, 3)}},
        {"name": f"HTTP /predict, {CONCURRENCY} concurrent clients, loopback",
         "input": clip_desc, "command": command, "results": loaded},
        {"name": f"decode-only FastAPI endpoint, {CONCURRENCY} clients (yardstick, same run)",
         "input": clip_desc.split(";")[0] + "; bench/decode_only.py",
         "command": command, "results": decode_only},
        {"name": "10-minute file through /predict (client-side wall time)",
         "input": "600-s 16-bit mono WAV at 16 kHz; model: " + model_desc,
         "command": command, "results": long_file},
        {"name": f"worker RSS after {rss_requests} requests", "input": clip_desc,
         "command": command, "results": rss},
    ]  # fmt: skip


def compare(load_requests: int = LOAD_REQUESTS, workers: int = WORKERS) -> list[dict]:
    """The second model ($SER_BENCH_COMPARE_MODEL) served as :func:`run` serves the first:
    cold starts of both, taking turns (COLD_STARTS each); then the second under load, with the
    10-minute file, and its workers' RSS after."""
    first, _ = model_path()
    second = compare_model()
    if second is None:
        raise ValueError("no second model to compare: set SER_BENCH_COMPARE_MODEL")
    second_path, second_desc = second
    clip = wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE)
    raw = multipart("/predict", [("file", "clip.wav", clip, "audio/wav")])
    cold: dict[str, list[float]] = {"first": [], "second": []}
    for _ in range(COLD_STARTS):
        for name, path in (("first", first), ("second", second_path)):
            server = Server(path, workers=workers)
            try:
                cold[name].append(round(asyncio.run(first_answer(server, clip)), 3))
            finally:
                server.stop()
    server = Server(second_path, workers=workers)
    try:
        asyncio.run(first_answer(server, clip))
        loaded = serve_load(server, raw, load_requests)
        long_file = asyncio.run(long_file_timing(server.url))
        rss = worker_rss_mib(server)
    finally:
        server.stop()
    clip_desc = f"{CLIP_S:g}-s 16-bit mono WAV at {CLIP_RATE // 1000} kHz; model: {second_desc}"
    command = f"python -m bench.run_all --compare-model {second_path} (ser-api, {workers} workers)"
    median = {name: sorted(times)[len(times) // 2] for name, times in cold.items()}
    return [
        {"name": f"cold start to first answer, both models taking turns ({COLD_STARTS} each)",
         "input": f"{clip_desc}; first: {describe(first)}", "command": command,
         "results": {"first_s": median["first"], "second_s": median["second"],
                     "first_runs_s": cold["first"], "second_runs_s": cold["second"]}},
        {"name": f"second model: HTTP /predict, {CONCURRENCY} concurrent clients, loopback",
         "input": clip_desc, "command": command, "results": loaded},
        {"name": "second model: 10-minute file through /predict (client-side wall time)",
         "input": "600-s 16-bit mono WAV at 16 kHz; model: " + second_desc,
         "command": command, "results": long_file},
        {"name": "second model: worker RSS after the load and the 10-minute file",
         "input": clip_desc, "command": command, "results": {"rss_mib": rss}},
    ]  # fmt: skip
