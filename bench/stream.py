"""Live streams (WS /stream) against a real 2-worker ``ser-api``: window latency, and how many
real-time streams the machine sustains.

Usage: python -m bench.stream [--streams 1,10,25,50,75,100] [--seconds 20] [--chunk-ms 100]

For each count N, N clients each stream ``--seconds`` of speech-like 16-kHz audio
(``pcm_s16le``) at real-time pace in ``--chunk-ms`` frames, their starts spread over one hop
(real streams are not in step). A window's latency is the time from sending the frame that
completes its audio (its ``t_end``) to receiving its message (the final window, sent after
``end``, from the last frame; ``end`` follows it at once). N is *sustained* when every stream ended with its
summary and the p99 latency is at most ``--target-p99-ms`` (300). The clients run in this
process (asyncio, ``websockets``), on the same cores as the server, as every benchmark here.
Prints one JSON object; ``bench.run_all`` adds its rows to ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.common import machine, model_path, percentiles, speech_like
from bench.common import wav as wav_bytes
from bench.http_load import Server, first_answer, worker_rss_mib
from ser_contract.stream import DONE, END_EVENT, stream_url

RATE = 16_000  # Hz, the model's rate: the stream then costs no resampling
WORKERS = 2
STREAM_COUNTS = (1, 10, 25, 50, 75, 100)
SECONDS = 20.0  # s of audio per stream
CHUNK_MS = 100  # ms of audio per frame
TARGET_P99_MS = 300.0
# Per worker: enough that admission never refuses a benchmark stream (the default is 64).
MAX_STREAMS_PER_WORKER = 1000
OPEN_TIMEOUT_S = 30.0


@dataclass
class StreamRun:
    """What one client saw."""

    latencies_s: list[float] = field(default_factory=list)
    windows: int = 0
    close_code: int | None = None
    close_reason: str = ""
    lag_s: float = 0.0  # worst delay of a frame behind its real-time schedule (client load)


async def one_stream(url: str, pcm: bytes, chunk: int, delay_s: float) -> StreamRun:
    """Stream ``pcm`` (s16le at RATE) at real-time pace after ``delay_s``."""
    run = StreamRun()
    await asyncio.sleep(delay_s)
    sent_at: list[tuple[int, float]] = []  # (samples sent so far, when)
    async with connect(
        stream_url(url, sample_rate=RATE, encoding="pcm_s16le"),
        open_timeout=OPEN_TIMEOUT_S, max_queue=None,
    ) as ws:  # fmt: skip
        await ws.recv()  # start message

        async def receive() -> None:
            try:
                async for text in ws:
                    now = time.perf_counter()
                    message = json.loads(text)
                    if message["event"] != "window":
                        continue
                    run.windows += 1
                    needed = round(message["t_end"] * RATE)
                    completed = next(t for n, t in sent_at if n >= needed)
                    run.latencies_s.append(now - completed)
            except ConnectionClosed:
                pass

        receiver = asyncio.create_task(receive())
        started = time.perf_counter()
        n_samples = len(pcm) // 2
        try:
            for at in range(0, n_samples, chunk):
                due = started + at / RATE
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                run.lag_s = max(run.lag_s, -wait)
                end = min(at + chunk, n_samples)
                await ws.send(pcm[2 * at : 2 * end])
                sent_at.append((end, time.perf_counter()))
            await ws.send(json.dumps({"event": END_EVENT}))
        except ConnectionClosed:
            pass
        await receiver
    run.close_code, run.close_reason = ws.close_code, ws.close_reason or ""
    return run


async def concurrent_streams(url: str, n: int, seconds: float, chunk_ms: int, hop_s: float):
    signal = speech_like(seconds, RATE, seed=3)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()
    chunk = round(chunk_ms * RATE / 1000)
    rng = random.Random(n)
    return await asyncio.gather(
        *(one_stream(url, pcm, chunk, rng.uniform(0, hop_s)) for _ in range(n))
    )


def level(url: str, n: int, seconds: float, chunk_ms: int, hop_s: float, target_ms: float):
    runs = asyncio.run(concurrent_streams(url, n, seconds, chunk_ms, hop_s))
    latencies = [s for run in runs for s in run.latencies_s]
    failed = [f"{r.close_code} {r.close_reason}" for r in runs if r.close_code != DONE.code]
    numbers = percentiles(latencies) if latencies else {"p50_ms": None, "p99_ms": None}
    numbers |= {
        "max_ms": round(1e3 * max(latencies), 1) if latencies else None,
        "streams": n,
        "windows": sum(r.windows for r in runs),
        "streams_not_done": len(failed),
        "not_done_reasons": sorted(set(failed))[:5],
        "client_max_lag_ms": round(1e3 * max(r.lag_s for r in runs), 1),
    }
    numbers["sustained"] = bool(not failed and latencies and numbers["p99_ms"] <= target_ms)
    return numbers


def run(
    counts: tuple[int, ...] = STREAM_COUNTS, seconds: float = SECONDS, chunk_ms: int = CHUNK_MS,
    target_ms: float = TARGET_P99_MS,
) -> dict:  # fmt: skip
    model, model_desc = model_path()
    from ser_inference import EmotionClassifier

    config = EmotionClassifier.load(model).config
    server = Server(model, workers=WORKERS, env={"SER_MAX_STREAMS": str(MAX_STREAMS_PER_WORKER)})
    levels = {}
    try:
        asyncio.run(first_answer(server, wav_bytes(speech_like(3.0, RATE), RATE)))
        level(server.url, 2, 2 * config.window_s, chunk_ms, config.window_hop_s, target_ms)
        rss_before = worker_rss_mib(server)
        for n in counts:
            levels[str(n)] = level(server.url, n, seconds, chunk_ms, config.window_hop_s, target_ms)
            # Progress on stderr: stdout is the one JSON object run_all reads.
            print(f"{n} streams: {json.dumps(levels[str(n)])}", file=sys.stderr, flush=True)
            if levels[str(n)]["streams_not_done"] and n > counts[0]:
                break  # refused or broken streams: more would only say so again
        rss_after = worker_rss_mib(server)
    finally:
        server.stop()
    sustained = [int(n) for n, numbers in levels.items() if numbers["sustained"]]
    return {
        "name": "WS /stream, concurrent real-time streams",
        "input": f"{seconds:g} s of speech-like 16-kHz s16 audio per stream in {chunk_ms}-ms "
        f"frames at real-time pace, starts spread over one hop; {config.window_s:g}-s windows "
        f"every {config.window_hop_s:g} s; {WORKERS} workers; model: {model_desc}",
        "command": "python -m bench.stream --streams "
        + ",".join(map(str, counts))
        + f" --seconds {seconds:g} --chunk-ms {chunk_ms}",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": {
            "levels": levels,
            "most_streams_sustained": max(sustained) if sustained else 0,
            "target_p99_ms": target_ms,
            "worker_rss_mib_before_after": [rss_before, rss_after],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--streams", default=",".join(map(str, STREAM_COUNTS)),
        help="comma-separated concurrent stream counts, tried in order (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=SECONDS, help="audio per stream, s")
    parser.add_argument("--chunk-ms", type=int, default=CHUNK_MS, help="audio per frame, ms")
    parser.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.streams.split(",") if n.strip())
    print(json.dumps(run(counts, args.seconds, args.chunk_ms, args.target_p99_ms), indent=2))


if __name__ == "__main__":
    main()
