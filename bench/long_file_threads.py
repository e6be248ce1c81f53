"""Does a long recording answer sooner on two threads? The 10-minute file through /predict
with ``SER_LONG_RECORDING_THREADS`` 1 and 2, taking turns so that load on the machine falls
on both alike:

    python -m bench.long_file_threads      # writes bench/results/long_file_threads.md
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

from bench.common import machine, model_path, speech_like, wav
from bench.http_load import Server, first_answer, long_file_timing

SETTINGS = (1, 2)  # SER_LONG_RECORDING_THREADS
ROUNDS = 3  # each round: one server per setting, three requests each
RESULTS = Path(__file__).parent / "results" / "long_file_threads.md"


def run() -> dict[int, list[float]]:
    model, _ = model_path()
    clip = wav(speech_like(3.0, 48_000), 48_000)
    times: dict[int, list[float]] = {threads: [] for threads in SETTINGS}
    for _ in range(ROUNDS):
        for threads in SETTINGS:
            server = Server(model, workers=2, env={"SER_LONG_RECORDING_THREADS": str(threads)})
            try:
                asyncio.run(first_answer(server, clip))
                result = asyncio.run(long_file_timing(server.url))
                times[threads].append(result["median_s"])
            finally:
                server.stop()
    return times


def main() -> None:
    times = run()
    _, model_desc = model_path()
    lines = [
        "# The 10-minute file on one or two threads",
        "",
        f"Machine: {machine()}  ",
        "Command: `python -m bench.long_file_threads` (ser-api, 2 workers; per setting "
        f"{ROUNDS} servers × median of 3 requests, settings taking turns)  ",
        f"Input: 600-s 16-bit mono WAV at 16 kHz; model: {model_desc}",
        "",
        "| SER_LONG_RECORDING_THREADS | client-side wall time, median of the runs | runs |",
        "|---|---|---|",
        *[
            f"| {threads} | {statistics.median(t):.3f} s | {', '.join(f'{x:.3f}' for x in t)} |"
            for threads, t in times.items()
        ],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
