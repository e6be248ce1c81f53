"""Where a /predict spends its time: py-spy samples a live server under the 8-client load.

Usage: python -m bench.profile_server [--seconds 12]; writes bench/results/profile_predict.md.
py-spy samples every thread of the uvicorn process (the event loop and the inference
threads), which cProfile cannot; lines are grouped by function, as a share of all samples.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.client import hammer, multipart
from bench.common import CLIP_RATE, CLIP_S, REPO, machine, model_path, speech_like, wav
from bench.http_load import CONCURRENCY, Server, first_answer

RESULTS = REPO / "bench" / "results"
TOP = 25  # functions listed per table
_SITE = re.compile(r"\(/.*?/(site-packages|src|python3\.\d+)/")


def _function(frame: str) -> str:
    """``window_features (/…/ser_features/features.py:179)`` → without the path prefix."""
    return _SITE.sub("(", frame)


def summarise(
    raw: Path,
) -> tuple[int, collections.Counter, collections.Counter, collections.Counter]:
    """Samples, self time by function, inclusive time by function, self time by line."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    lines: collections.Counter = collections.Counter()
    total = 0
    for row in raw.read_text().splitlines():
        stack, count = row.rsplit(" ", 1)
        n = int(count)
        total += n
        frames = [_function(f) for f in stack.split(";")]
        for name in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            inclusive[name] += n
        own[re.sub(r":\d+\)$", ")", frames[-1])] += n
        lines[frames[-1]] += n
    return total, own, inclusive, lines


def _table(title: str, counts: collections.Counter, total: int) -> list[str]:
    rows = [f"### {title}", "", "| share | function |", "|---:|---|"]
    rows += [f"| {100 * n / total:.1f} % | `{name}` |" for name, n in counts.most_common(TOP)]
    return [*rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    model, model_desc = model_path()
    clip = wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE)
    raw = Path(tempfile.mkdtemp(prefix="ser-profile-")) / "raw.txt"
    request = multipart("/predict", [("file", "clip.wav", clip, "audio/wav")])
    server = Server(model, workers=args.workers)
    try:
        asyncio.run(first_answer(server, clip))
        asyncio.run(hammer(server.url, lambda i: request, CONCURRENCY, 300, 30))  # warm-up
        spy = subprocess.Popen(
            [Path(sys.executable).parent / "py-spy", "record", "--pid", str(server.process.pid),
             "--subprocesses", "--duration", str(args.seconds), "--rate", "200",
             "--format", "raw", "--output", str(raw), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        result = asyncio.run(
            hammer(server.url, lambda i: request, CONCURRENCY, 10**9, args.seconds)
        ).summary(CONCURRENCY)
        spy.wait(timeout=args.seconds + 30)
    finally:
        server.stop()
    total, own, inclusive, lines = summarise(raw)
    report = [
        "# Profile of /predict under load",
        "",
        f"Machine: {machine()} (shared with other jobs: absolute times are noisy)  ",
        f"Input: {CLIP_S:g}-s 16-bit mono WAV at {CLIP_RATE // 1000} kHz, {CONCURRENCY} "
        f"keep-alive clients; model: {model_desc}; {args.workers} worker(s)  ",
        f"Command: `python -m bench.profile_server --seconds {args.seconds} "
        f"--workers {args.workers}`  ",
        f"Load during the profile: {result['throughput_rps']} req/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms; {total} py-spy samples over all threads (py-spy drops the waits it recognises as idle; lock and epoll waits remain)",
        "",
        *_table("Self time by function", own, total),
        *_table("Inclusive time by function", inclusive, total),
        *_table("Self time by line", lines, total),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile_predict_{args.workers}w.md"
    out.write_text("\n".join(report))
    print("\n".join(report[:40]))


if __name__ == "__main__":
    main()
