"""Staying up, measured against a live 2-worker server: soak, overload, faults.

Usage: python -m bench.reliability soak|overload|overload-targets|faults|streams|all
[--requests N] [--targets 2,1.5,1]
Each phase writes bench/results/<phase>.json and prints it. The load client is
bench/client.py (asyncio, keep-alive) in this process, on the same cores as the server.

soak      ≥ 20,000 mixed requests (valid clips of several formats, rates and lengths,
          hostile inputs, batches, GETs): every answer must be the expected status, none
          5xx, none lost; worker RSS after warm-up and at the end.
overload  64 clients posting 30-s clips for 12 s, with the default bounds, with requests
          counted only (no work rule), and (for comparison) with no bound at all; a client told 503 waits its
          Retry-After, as the web app does; /health probed throughout, two live streams
          open and fed in real time through it; then one request right after the load stops
          (recovery).
overload-targets  the same load once per SER_TARGET_LATENCY_S in --targets.
faults    one worker SIGKILLed under 8-client load (5xx and lost answers, time to a new
          worker); 32 clients trickling bodies byte by byte beside 8 normal clients.
streams   200 live streams (WS /stream) opened, fed 4 s of audio and dropped abruptly in
          the middle of a frame (TCP reset); then every stream must be closed on the server
          (ser_streams_open 0), worker RSS within 10 % of before and /predict answering.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import soundfile

from bench.client import Connection, LoadResult, hammer, multipart, request
from bench.common import REPO, machine, model_path, percentiles, speech_like
from bench.http_load import Server, first_answer, worker_pids, worker_rss_mib

RESULTS = REPO / "bench" / "results"
WORKERS = 2
CONCURRENCY = 8
SOAK_REQUESTS = 20_000
SOAK_WARMUP = 4_000  # requests before the first RSS reading
RSS_SAMPLE_S = 10.0  # s between worker RSS readings during the soak
OVERLOAD_CLIENTS = 64
OVERLOAD_S = 12.0  # s of sustained overload
HEALTH_PROBE_S = 0.1  # s between /health probes during the overload
OVERLOAD_STREAMS = 2  # live streams open through the overload
TRICKLERS = 32
TRICKLE_INTERVAL_S = 0.2  # s between the trickled bytes
BODY_TIMEOUT_S = 5  # s, SER_BODY_TIMEOUT_S of the faults run (default 30)


def encode(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _upload(name: str, data: bytes, content_type: str = "audio/wav", field: str = "file") -> bytes:
    return multipart("/predict", [(field, name, data, content_type)])


def soak_mix() -> list[tuple[str, bytes, set[int], int]]:
    """(kind, raw request, expected statuses, weight) of the soak's request mix."""
    tone = speech_like(3.0, 16_000, seed=1)
    stereo = np.stack([speech_like(2.0, 44_100, seed=2), speech_like(2.0, 44_100, seed=3)], 1)
    clips = {
        "wav16k_3s": encode(tone, 16_000),
        "wav48k_3s": encode(speech_like(3.0, 48_000, seed=4), 48_000),
        "wav44k_stereo_2s": encode(stereo, 44_100),
        "wav24bit_1s": encode(speech_like(1.0, 22_050, seed=5), 22_050, subtype="PCM_24"),
        "flac_8s": encode(speech_like(8.0, 32_000, seed=6), 32_000, "FLAC"),
        "ogg_5s": encode(speech_like(5.0, 24_000, seed=7), 24_000, "OGG", "VORBIS"),
        "wav_30s": encode(speech_like(30.0, 16_000, seed=8), 16_000),
        "float_0.4s": encode(speech_like(0.4, 8_000, seed=9), 8_000, subtype="FLOAT"),
    }
    nan = speech_like(1.0, 16_000, seed=10).copy()
    nan[100] = np.nan
    wav = clips["wav16k_3s"]
    batch = multipart(
        "/predict/batch",
        [("files", f"{k}.bin", clips[k], "application/octet-stream")
         for k in ("wav16k_3s", "flac_8s", "ogg_5s")]
        + [("files", "junk.wav", b"RIFF....WAVEjunk", "audio/wav")],
    )  # fmt: skip
    ok, bad = {200}, {422}
    mix = [(f"valid {name}", _upload(f"{name}.bin", data, "application/octet-stream"), ok, 6)
           for name, data in clips.items() if name != "wav_30s"]  # fmt: skip
    mix += [
        ("valid wav_30s", _upload("long.wav", clips["wav_30s"]), ok, 1),
        ("batch of 4 (1 junk)", batch, ok, 3),
        ("empty file", _upload("empty.wav", b""), bad, 1),
        ("random bytes", _upload("noise.wav", random.Random(0).randbytes(20_000)), bad, 1),
        ("truncated WAV header", _upload("cut.wav", wav[:30]), bad, 1),
        ("WAV cut mid-data", _upload("cut.wav", wav[: len(wav) // 3 + 1]), ok, 1),
        ("NaN samples", _upload("nan.wav", encode(nan, 16_000, subtype="FLOAT")), bad, 1),
        ("digital silence", _upload("silence.wav", encode(np.zeros(16_000), 16_000)), bad, 1),
        ("0.1 s clip", _upload("short.wav", encode(tone[:1_600], 16_000)), bad, 1),
        ("declared text/plain", _upload("speech.txt", wav, "text/plain"), {415}, 1),
        ("wrong field name", _upload("speech.wav", wav, field="audio"), {400}, 1),
        ("JSON body", request("POST", "/predict", b'{"file": 1}', "application/json"), {415}, 1),
        ("two files to /predict",
         multipart("/predict", [("file", "a.wav", wav, "audio/wav")] * 2), {400}, 1),
        ("batch of 17 files",
         multipart("/predict/batch", [("files", "a.wav", wav, "audio/wav")] * 17), {400, 413}, 1),
        ("GET /health", request("GET", "/health"), ok, 2),
        ("GET /model", request("GET", "/model"), ok, 1),
        ("GET /metrics", request("GET", "/metrics"), ok, 1),
        ("unknown path", request("GET", "/nope"), {404}, 1),
        ("wrong method", request("DELETE", "/predict"), {405}, 1),
    ]  # fmt: skip
    return mix


def _schedule(mix: list, total: int, seed: int = 0) -> list[int]:
    weights = [entry[3] for entry in mix]
    return random.Random(seed).choices(range(len(mix)), weights=weights, k=total)


def soak(total: int) -> dict:
    model, model_desc = model_path()
    mix = soak_mix()
    order = _schedule(mix, total)
    warm_order = _schedule(mix, SOAK_WARMUP, seed=1)
    server = Server(model, workers=WORKERS)
    try:
        asyncio.run(first_answer(server, speech_like_wav()))
        warm = asyncio.run(hammer(server.url, lambda i: mix[warm_order[i]][1], CONCURRENCY,
                                  SOAK_WARMUP, 600))  # fmt: skip
        rss_start = worker_rss_mib(server)
        started = time.perf_counter()
        # A steady plateau and a leak look alike in two readings: sample through the run.
        series: list[tuple[float, dict[int, float]]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(RSS_SAMPLE_S):
                series.append((round(time.perf_counter() - started, 1), worker_rss_mib(server)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = asyncio.run(hammer(server.url, lambda i: mix[order[i]][1], CONCURRENCY,
                                        total, 3_600))  # fmt: skip
        finally:
            stop.set()
            sampler.join()
        elapsed = time.perf_counter() - started
        rss_end = worker_rss_mib(server)
    finally:
        server.stop()
    # Answers arrive out of order across clients; tally by kind through each request's index.
    by_kind: dict[str, Counter] = {}
    unexpected = 0
    for answer, index in zip(result.answers, result.indices, strict=True):
        kind, _, expected, _ = mix[order[index]]
        by_kind.setdefault(kind, Counter())[answer.status] += 1
        unexpected += answer.status not in expected
    statuses = Counter(a.status for a in result.answers)
    growth = {pid: round(100 * (rss_end.get(pid, float("nan")) / mib - 1), 1)
              for pid, mib in rss_start.items()}  # fmt: skip
    halfway = next((rss for t, rss in series if t >= elapsed / 2), rss_start)
    second_half = {pid: round(100 * (rss_end.get(pid, float("nan")) / mib - 1), 1)
                   for pid, mib in halfway.items()}  # fmt: skip
    return {
        "name": f"soak: {total} mixed requests, {CONCURRENCY} clients, {WORKERS} workers",
        "input": f"{len(mix)} kinds of request (valid WAV/FLAC/OGG 0.4-30 s at 8-48 kHz, "
        f"hostile uploads, batches, GETs); model: {model_desc}",
        "command": f"make soak  (python -m bench.reliability soak --requests {total})",
        "results": {
            "requests": len(result.answers),
            "warmup_requests": len(warm.answers),
            "elapsed_s": round(elapsed, 1),
            "throughput_rps": round(len(result.answers) / elapsed, 1),
            "server_errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
            "lost_answers": statuses[0],
            "unexpected_status": unexpected,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "rss_after_warmup_mib": rss_start,
            "rss_end_mib": rss_end,
            "rss_growth_percent": growth,
            "rss_growth_second_half_percent": second_half,
            "rss_series_mib": [[t, rss] for t, rss in series],
            "by_kind": {k: {str(s): n for s, n in sorted(c.items())} for k, c in by_kind.items()},
        },
    }


def speech_like_wav(seconds: float = 3.0, rate: int = 48_000) -> bytes:
    return encode(speech_like(seconds, rate), rate)


async def _probe_health(url: str, stop: asyncio.Event) -> list[float]:
    connection = Connection(url, timeout_s=30)
    raw = request("GET", "/health")
    times = []
    while not stop.is_set():
        answer = await connection.send(raw)
        times.append(answer.seconds if answer.status == 200 else float("inf"))
        await asyncio.sleep(HEALTH_PROBE_S)
    await connection.close()
    return times


def _streams_summary(runs: list) -> dict:
    """What the live streams open through the burst saw: windows, latency, how they ended."""
    latencies = [t for run in runs for t in run.latencies_s]
    return {
        "streams": len(runs),
        "windows": sum(run.windows for run in runs),
        "window_latency": percentiles(latencies) if latencies else {},
        "closes": [f"{run.close_code} {run.close_reason}".strip() for run in runs],
    }


async def _overload_run(url: str, raw: bytes) -> tuple[LoadResult, list[float], dict, dict]:
    from bench.stream import concurrent_streams

    stop = asyncio.Event()
    probe = asyncio.create_task(_probe_health(url, stop))
    # Live streams opened before the burst and fed in real time through it.
    streams = asyncio.create_task(
        concurrent_streams(url, OVERLOAD_STREAMS, OVERLOAD_S + 2.0, 100, 0.2)
    )
    await asyncio.sleep(0.5)
    result = await hammer(
        url, lambda i: raw, OVERLOAD_CLIENTS, 10**9, OVERLOAD_S, timeout_s=120,
        honour_retry_after=True,
    )  # fmt: skip
    stop.set()
    health = await probe
    streamed = _streams_summary(await streams)
    recovery_connection = Connection(url)
    answer = await recovery_connection.send(raw)
    await recovery_connection.close()
    return result, health, {"status": answer.status, "ms": round(answer.seconds * 1e3, 1)}, streamed


def overload(variants: dict[str, dict[str, str]] | None = None) -> dict:
    """``variants``: label → server environment (default: the defaults beside two older bounds)."""
    model, model_desc = model_path()
    raw = _upload("long.wav", encode(speech_like(30.0, 16_000, seed=8), 16_000))
    runs = {}
    variants = variants or {
        "defaults (admission by work: SER_TARGET_LATENCY_S=1.5; SER_MAX_QUEUED_REQUESTS=8, "
        "SER_MAX_QUEUE_WAIT_S=1)": {},
        "requests counted only (before issue 31)": {"SER_TARGET_LATENCY_S": "inf"},
        "no bound at all (for comparison)": {
            "SER_TARGET_LATENCY_S": "inf", "SER_MAX_QUEUED_REQUESTS": "10000",
            "SER_MAX_QUEUE_WAIT_S": "3600",
        },
    }  # fmt: skip
    for label, env in variants.items():
        server = Server(model, workers=WORKERS, env=env)
        try:
            asyncio.run(first_answer(server, speech_like_wav()))
            result, health, recovery, streamed = asyncio.run(_overload_run(server.url, raw))
        finally:
            server.stop()
        answers = result.answers
        served = [a.seconds for a in answers if a.status == 200]
        shed = [a for a in answers if a.status == 503]
        runs[label] = {
            "requests": len(answers),
            "statuses": {str(k): v for k, v in sorted(Counter(a.status for a in answers).items())},
            "served_latency": percentiles(served) if served else {},
            "shed_latency": percentiles([a.seconds for a in shed]) if shed else {},
            "shed_with_retry_after": sum("retry-after" in a.headers for a in shed),
            "health_probe": percentiles([t for t in health if t != float("inf")])
            | {"max_ms": round(max(health) * 1e3, 1), "failed": health.count(float("inf"))},
            "first_request_after_load": recovery,
            "live_streams_through_the_burst": streamed,
        }
    return {
        "name": f"overload: {OVERLOAD_CLIENTS} clients posting 30-s clips for {OVERLOAD_S:g} s",
        "input": f"30-s 16-bit mono WAV at 16 kHz (960 kB); clients wait Retry-After after a "
        f"503; {WORKERS} workers; "
        f"/health probed every {HEALTH_PROBE_S:g} s; model: {model_desc}",
        "command": "python -m bench.reliability overload",
        "results": runs,
    }


async def _kill_one_worker(server: Server, raw: bytes) -> dict:
    before = worker_pids(server.process.pid)
    outcome: dict = {}

    async def killer() -> None:
        await asyncio.sleep(3.0)  # steady load first
        victim = min(before)
        outcome["killed_pid"] = victim
        os.kill(victim, signal.SIGKILL)
        killed = time.perf_counter()
        while not worker_pids(server.process.pid) - before:
            await asyncio.sleep(0.05)
        outcome["replacement_after_s"] = round(time.perf_counter() - killed, 2)

    task = asyncio.create_task(killer())
    result = await hammer(server.url, lambda i: raw, CONCURRENCY, 10**9, 12.0)
    await task
    statuses = Counter(a.status for a in result.answers)
    return outcome | {
        "requests": len(result.answers),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "lost_answers (in flight on the killed worker)": statuses[0],
    }


async def _tricklers_beside_load(url: str, raw: bytes) -> dict:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Length: 1000000\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\nContent-Disposition: "
        b'form-data; name="file"; filename="slow.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    )

    async def trickle() -> tuple[str, float]:
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(*url.removeprefix("http://").split(":"))
        writer.write(head)
        reply = b""
        try:
            while not reply:
                writer.write(b"x")
                await writer.drain()
                try:
                    reply = await asyncio.wait_for(reader.read(64), TRICKLE_INTERVAL_S)
                except TimeoutError:
                    continue
                if not reply:
                    return "closed without answer", time.perf_counter() - started
        except OSError:
            return "connection reset", time.perf_counter() - started
        finally:
            writer.close()
        return reply.split(b"\r\n", 1)[0].decode(), time.perf_counter() - started

    tricklers = [asyncio.create_task(trickle()) for _ in range(TRICKLERS)]
    normal = await hammer(url, lambda i: raw, CONCURRENCY, 10**9, BODY_TIMEOUT_S + 2.0)
    outcomes = await asyncio.gather(*tricklers)
    return {
        "normal_clients": normal.summary(CONCURRENCY),
        "tricklers": TRICKLERS,
        "trickler_outcomes": dict(Counter(o for o, _ in outcomes)),
        "trickler_cut_off_after_s": percentiles([s for _, s in outcomes]),
    }


def faults() -> dict:
    model, model_desc = model_path()
    raw = _upload("clip.wav", speech_like_wav())
    server = Server(model, workers=WORKERS, env={"SER_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)})
    try:
        asyncio.run(first_answer(server, speech_like_wav()))
        asyncio.run(hammer(server.url, lambda i: raw, CONCURRENCY, 300, 30))  # warm-up
        kill = asyncio.run(_kill_one_worker(server, raw))
        slow = asyncio.run(_tricklers_beside_load(server.url, raw))
    finally:
        server.stop()
    return {
        "name": "faults: a worker SIGKILLed under load; clients trickling bodies",
        "input": f"3-s 16-bit WAV at 48 kHz, {CONCURRENCY} clients, {WORKERS} workers; "
        f"{TRICKLERS} tricklers sending 1 byte per {TRICKLE_INTERVAL_S:g} s, "
        f"SER_BODY_TIMEOUT_S={BODY_TIMEOUT_S}; model: {model_desc}",
        "command": "python -m bench.reliability faults",
        "results": {"worker_killed": kill, "slow_clients": slow},
    }


DROPPED_STREAMS = 200
DROP_BATCH = 25  # streams opened at once
DROP_WARMUP = 40  # dropped streams before the first RSS reading
RSS_TOLERANCE_PERCENT = 10.0
SETTLE_TIMEOUT_S = 30.0  # s for the server to notice every dropped stream
_STREAMS_OPEN = re.compile(rb"^ser_streams_open (\S+)$", re.MULTILINE)
_STREAM_CLOSES = re.compile(rb'^ser_stream_closes_total\{reason="(\w+)"\} (\S+)$', re.MULTILINE)


def ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One client frame (FIN, masked with the zero key, so the payload goes as is)."""
    n = len(payload)
    if n < 126:
        length = bytes([0x80 | n])
    elif n < 65_536:
        length = bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        length = bytes([0x80 | 127]) + struct.pack("!Q", n)
    return bytes([0x80 | opcode]) + length + b"\0\0\0\0" + payload


async def _open_feed_and_drop(url: str, pcm: bytes) -> str:
    """Open a stream, send ``pcm`` then half a frame, and reset the connection."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /stream?sample_rate=16000&encoding=pcm_s16le HTTP/1.1\r\n"
        + f"Host: {host}:{port}\r\n".encode()
        + b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: c2VyLXN0cmVhbS1kcm9wMQ==\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        writer.close()
        return "refused: " + head.split(b"\r\n", 1)[0].decode(errors="replace")
    start = await asyncio.wait_for(reader.read(2), 30)  # the server's start message begins
    outcome = "dropped" if start[:1] == b"\x81" else f"no start message: {start!r}"
    writer.write(ws_frame(pcm))
    whole = ws_frame(pcm[:3_200])
    writer.write(whole[: len(whole) // 2])  # mid-frame: the header promised more
    await writer.drain()
    sock = writer.get_extra_info("socket")
    # SO_LINGER 0: close() sends a TCP reset instead of a clean FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return outcome


async def _drop_streams(url: str, count: int, pcm: bytes) -> Counter:
    outcomes: Counter = Counter()
    for done in range(0, count, DROP_BATCH):
        batch = min(DROP_BATCH, count - done)
        outcomes.update(
            await asyncio.gather(*(_open_feed_and_drop(url, pcm) for _ in range(batch)))
        )
    return outcomes


def _stream_metrics(url: str) -> tuple[float, dict[str, float]]:
    """(ser_streams_open, closes by reason) from /metrics."""
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).content
    opened = sum(float(v) for v in _STREAMS_OPEN.findall(text))
    closes = {k.decode(): float(v) for k, v in _STREAM_CLOSES.findall(text)}
    return opened, closes


def dropped_streams(count: int = DROPPED_STREAMS) -> dict:
    model, model_desc = model_path()
    clip = speech_like_wav()
    # 4 s: two windows of the shipped model are being scored when the connection drops.
    pcm = (np.clip(speech_like(4.0, 16_000, seed=2), -1, 1) * 32767).astype("<i2").tobytes()
    server = Server(model, workers=WORKERS, env={"SER_MAX_STREAMS": "1000"})
    try:
        asyncio.run(first_answer(server, clip))
        warm = asyncio.run(_drop_streams(server.url, DROP_WARMUP, pcm))
        time.sleep(2.0)
        rss_before = worker_rss_mib(server)
        started = time.perf_counter()
        outcomes = asyncio.run(_drop_streams(server.url, count, pcm))
        deadline = time.perf_counter() + SETTLE_TIMEOUT_S
        while (still_open := _stream_metrics(server.url)[0]) and time.perf_counter() < deadline:
            time.sleep(0.2)
        settled_s = time.perf_counter() - started
        rss_after = worker_rss_mib(server)
        _, closes = _stream_metrics(server.url)
        answer = asyncio.run(first_answer(server, clip))  # raises unless /predict answers 200
    finally:
        server.stop()
    growth = {pid: round(100 * (rss_after.get(pid, float("nan")) / mib - 1), 1)
              for pid, mib in rss_before.items()}  # fmt: skip
    flat = all(abs(g) <= RSS_TOLERANCE_PERCENT for g in growth.values())
    return {
        "name": f"streams: {count} live streams dropped abruptly mid-frame",
        "input": f"WS /stream, pcm_s16le at 16 kHz: handshake, start message, 4 s of audio, "
        f"half a frame, TCP reset; {DROP_BATCH} at a time; {WORKERS} workers; after "
        f"{DROP_WARMUP} warm-up drops; model: {model_desc}",
        "command": "python -m bench.reliability streams  (make reliability)",
        "results": {
            "streams": count,
            "outcomes": dict(outcomes),
            "warmup_outcomes": dict(warm),
            "streams_open_after": still_open,
            "all_closed_after_s": round(settled_s, 2),
            "closes_by_reason": closes,
            "rss_before_mib": rss_before,
            "rss_after_mib": rss_after,
            "rss_growth_percent": growth,
            "rss_flat_within_10_percent": flat,
            "predict_after": "200" if answer else "no answer",
            "passed": flat and not still_open and outcomes == Counter({"dropped": count}),
        },
    }


PHASES: dict[str, Callable[[argparse.Namespace], dict]] = {
    "soak": lambda args: soak(args.requests),
    "overload": lambda args: overload(),
    # SER_TARGET_LATENCY_S swept, one server per value (how the default was chosen).
    "overload-targets": lambda args: overload(
        {f"SER_TARGET_LATENCY_S={t}": {"SER_TARGET_LATENCY_S": t} for t in args.targets.split(",")}
    ),
    "faults": lambda args: faults(),
    "streams": lambda args: dropped_streams(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("phase", choices=[*PHASES, "all"])
    parser.add_argument("--requests", type=int, default=SOAK_REQUESTS)
    parser.add_argument(
        "--targets", default="2,1.5,1", help="overload-targets: seconds, comma-separated"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for phase in PHASES if args.phase == "all" else [args.phase]:
        entry = PHASES[phase](args) | {"machine": machine() + " (shared with other jobs)"}
        entry["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (RESULTS / f"{phase}.json").write_text(json.dumps(entry, indent=2) + "\n")
        print(json.dumps(entry, indent=2))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
