"""Is one server setting faster than another? The same measurement against ``ser-api``
(2 workers) with each value of one ``SER_`` setting, the values taking turns so that load on
the machine falls on all of them alike:

    python -m bench.settings_ab SER_LONG_RECORDING_THREADS 1 2 --measure long
    python -m bench.settings_ab SER_MAX_CONCURRENT_INFERENCES 1 2 --measure load

``long``: the 10-minute file through /predict (median of 3 requests per server); ``load``:
8 keep-alive clients posting the 3-s 48 kHz clip (throughput and p99). Results are written to
``bench/results/ab_<setting>.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from bench.client import multipart
from bench.common import CLIP_RATE, CLIP_S, machine, model_path, speech_like, wav
from bench.http_load import CONCURRENCY, Server, first_answer, long_file_timing, serve_load

ROUNDS = 3  # servers per value
LOAD_REQUESTS = 3_000
RESULTS = Path(__file__).parent / "results"


def measure_once(setting: str, value: str, measure: str) -> dict[str, float]:
    model, _ = model_path()
    clip = wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE)
    server = Server(model, workers=2, env={setting: value})
    try:
        asyncio.run(first_answer(server, clip))
        if measure == "long":
            return {"seconds": asyncio.run(long_file_timing(server.url))["median_s"]}
        raw = multipart("/predict", [("file", "clip.wav", clip, "audio/wav")])
        loaded = serve_load(server, raw, LOAD_REQUESTS)
        return {"req/s": loaded["throughput_rps"], "p99 ms": loaded["p99_ms"]}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting", help="an environment setting of the API, e.g. SER_WORKERS")
    parser.add_argument("values", nargs="+")
    parser.add_argument("--measure", choices=("long", "load"), required=True)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {value: [] for value in args.values}
    for _ in range(ROUNDS):
        for value in args.values:
            runs[value].append(measure_once(args.setting, value, args.measure))
    _, model_desc = model_path()
    what = (
        "600-s 16-bit mono WAV at 16 kHz through /predict, client-side wall time (median of 3)"
        if args.measure == "long"
        else f"{CONCURRENCY} keep-alive clients × {LOAD_REQUESTS} requests of the {CLIP_S:g}-s "
        f"16-bit WAV at {CLIP_RATE // 1000} kHz"
    )
    metrics = list(runs[args.values[0]][0])
    lines = [
        f"# {args.setting}: {' vs '.join(args.values)}",
        "",
        f"Machine: {machine()}  ",
        f"Command: `python -m bench.settings_ab {args.setting} {' '.join(args.values)} "
        f"--measure {args.measure}` (ser-api, 2 workers, {ROUNDS} servers per value, values "
        "taking turns)  ",
        f"Input: {what}; model: {model_desc}",
        "",
        f"| {args.setting} | "
        + " | ".join(f"{m} (median of servers)" for m in metrics)
        + " | every server |",
        "|---|" + "---|" * (len(metrics) + 1),
    ]
    for value, results in runs.items():
        medians = [statistics.median(r[m] for r in results) for m in metrics]
        every = "; ".join(", ".join(f"{r[m]:g}" for m in metrics) for r in results)
        lines.append(f"| {value} | " + " | ".join(f"{x:g}" for x in medians) + f" | {every} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / f"ab_{args.setting.lower()}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
