"""ser-batch against the running API on the same files (issue 14): files/s and parity.

For each input set (1,000 3-s clips at 48 kHz; 10 10-minute files at 16 kHz, all 16-bit
mono WAV synthesised into a temporary folder):

1. the API as ``make api`` runs it (ser-api, 2 workers, SER_ORT_THREADS=1),
   files posted to /predict one after the other by one keep-alive client, then by 8
   concurrent clients (the load client of bench.http_load's kind);
2. the API stopped, ``ser-batch FOLDER --out …`` as a user runs it (a subprocess: Ray's
   start-up, actor start-up, scoring, merge), timed from the outside; its own summary says
   how long the scoring alone took.

Every number is the best of ``--repeat`` runs (the 2 cores are shared with other work, so
the best run is the one least disturbed). Parity: the largest difference between a
probability in ser-batch's output and the API's answer for the same file.

Usage: python -m bench.batch_vs_api [--clips 1000] [--long 10] [--repeat 2] [--workers 2] [--tag T]
Writes bench/results/batch_vs_api[-T].json and .md (a set of 0 files is left out).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq

from bench.common import REPO, machine, model_path, speech_like, wav
from bench.http_load import CONCURRENCY, Server, first_answer

RESULTS = REPO / "bench" / "results"
CLIP_S, CLIP_RATE = 3.0, 48_000  # s, Hz
LONG_S, LONG_RATE = 600.0, 16_000  # s, Hz
WARMUP_REQUESTS = 20
ATTEMPTS = 3  # tries per API measurement: this shared machine's other jobs stop stray servers
API_WORKERS = 2  # the API at its best on this 2-core host: `make api` / the container (ser-api)


_SCORING = re.compile(r"scoring ([0-9.]+) s")


def _write_set(folder: Path, count: int, seconds: float, rate: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / f"rec{i:05d}.wav"
        path.write_bytes(wav(speech_like(seconds, rate, seed=i), rate))
        paths.append(path)
    return paths


def _sequential(url: str, paths: list[Path]) -> tuple[float, dict[str, dict]]:
    answers = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        for path in paths:
            response = client.post("/predict", files={"file": (path.name, path.read_bytes())})
            response.raise_for_status()
            answers[str(path)] = response.json()["probabilities"]
        return time.perf_counter() - started, answers


async def _concurrent(url: str, paths: list[Path], concurrency: int) -> tuple[float, int]:
    queue = list(paths)
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                path = queue.pop()
                response = await client.post(
                    "/predict", files={"file": (path.name, path.read_bytes())}
                )
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, errors


def _api_once(model: Path, paths: list[Path]) -> tuple[float, float, int, dict]:
    server = Server(model, workers=API_WORKERS)
    try:
        asyncio.run(first_answer(server, paths[0].read_bytes()))
        asyncio.run(_concurrent(server.url, paths[:WARMUP_REQUESTS], CONCURRENCY))
        sequential, answers = _sequential(server.url, paths)
        concurrent, errors = asyncio.run(_concurrent(server.url, paths, CONCURRENCY))
    finally:
        server.stop()
    return sequential, concurrent, errors, answers


def _api(model: Path, paths: list[Path], repeat: int) -> dict:
    sequential, concurrent, answers, errors, lost = [], [], {}, 0, 0
    while len(sequential) < repeat:
        try:
            seq, conc, errors, answers = _api_once(model, paths)
        except (httpx.HTTPError, RuntimeError) as error:  # the server was stopped under us
            lost += 1
            print(f"API run lost ({error!r}); retrying", file=sys.stderr, flush=True)
            if lost >= ATTEMPTS:
                raise
            continue
        sequential.append(seq)
        concurrent.append(conc)
    return {"sequential_s": sequential, "concurrent_s": concurrent, "concurrent_errors": errors,
            "answers": answers, "lost_runs": lost}  # fmt: skip


def _batch(model: Path, folder: Path, out_dir: Path, workers: int, repeat: int) -> dict:
    ser_batch = Path(sys.executable).with_name("ser-batch")
    wall, scoring, table = [], [], None
    for run in range(repeat):
        out = out_dir / f"run{run}.parquet"
        command = [str(ser_batch), str(folder), "--out", str(out), "--model", str(model),
                   "--workers", str(workers)]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        wall.append(time.perf_counter() - started)
        scoring.append(float(_SCORING.findall(done.stdout)[-1]))
        table = pq.read_table(out)
    return {"wall_s": wall, "scoring_s": scoring, "table": table,
            "command": " ".join(["ser-batch", "FOLDER", "--out", "OUT.parquet", "--workers", str(workers)])}  # fmt: skip


def _parity(table, answers: dict[str, dict]) -> float:
    worst = 0.0
    for row in table.to_pylist():
        expected = answers[row["path"]]
        got = np.array([row[f"p_{label}"] for label in expected])
        worst = max(worst, float(np.max(np.abs(got - np.array(list(expected.values()))))))
    return worst


def _measure(
    name: str, paths: list[Path], model: Path, workers: int, repeat: int, tmp: Path
) -> dict:
    n = len(paths)
    api = _api(model, paths, repeat)
    batch = _batch(model, paths[0].parent, tmp / f"out-{name}", workers, repeat)
    best = {
        "api_sequential": n / min(api["sequential_s"]),
        f"api_{CONCURRENCY}_clients": n / min(api["concurrent_s"]),
        "ser_batch_end_to_end": n / min(batch["wall_s"]),
        "ser_batch_scoring": n / min(batch["scoring_s"]),
    }
    best_api = max(best["api_sequential"], best[f"api_{CONCURRENCY}_clients"])
    return {
        "name": name,
        "files": n,
        "files_per_s": {k: round(v, 2) for k, v in best.items()},
        "ratio_to_best_api": {
            "end_to_end": round(best["ser_batch_end_to_end"] / best_api, 2),
            "scoring": round(best["ser_batch_scoring"] / best_api, 2),
        },
        "runs_s": {
            "api_sequential": [round(s, 2) for s in api["sequential_s"]],
            f"api_{CONCURRENCY}_clients": [round(s, 2) for s in api["concurrent_s"]],
            "ser_batch_wall": [round(s, 2) for s in batch["wall_s"]],
            "ser_batch_scoring": [round(s, 2) for s in batch["scoring_s"]],
        },
        "api_errors": api["concurrent_errors"],
        "api_runs_lost_to_a_stopped_server": api["lost_runs"],
        "batch_errors": batch["table"].num_rows - batch["table"]["error"].null_count,
        "parity_max_abs_diff": _parity(batch["table"], api["answers"]),
        "batch_command": batch["command"],
    }


def _markdown(report: dict) -> str:
    lines = [
        f"Machine: {report['machine']} (load average at start: {report['load_average']})  ",
        f"Date: {report['date']}  ",
        f"Command: `{report['command']}`  ",
        f"Model: {report['model']}; API: {report['api']}; ser-batch: {report['batch_workers']} workers",
        "",
        "| Input | API sequential | API 8 clients | ser-batch end to end | ser-batch scoring only | "
        "ratio to best API (end to end / scoring) | parity (max abs diff) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        f = row["files_per_s"]
        r = row["ratio_to_best_api"]
        lines.append(
            f"| {row['name']} | {f['api_sequential']} files/s | {f[f'api_{CONCURRENCY}_clients']} files/s | "
            f"{f['ser_batch_end_to_end']} files/s | {f['ser_batch_scoring']} files/s | "
            f"×{r['end_to_end']} / ×{r['scoring']} | {row['parity_max_abs_diff']:.2e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1_000)
    parser.add_argument("--long", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    args = parser.parse_args()
    model, model_desc = model_path()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    results = []
    with tempfile.TemporaryDirectory(prefix="ser-bench-batch-") as tmp_name:
        tmp = Path(tmp_name)
        sets = [
            (f"{args.clips} × {CLIP_S:g}-s clips, 48 kHz", args.clips, CLIP_S, CLIP_RATE),
            (f"{args.long} × 10-minute files, 16 kHz", args.long, LONG_S, LONG_RATE),
        ]
        for index, (name, count, seconds, rate) in enumerate(sets):
            if count == 0:
                continue
            paths = _write_set(tmp / f"set{index}", count, seconds, rate)
            results.append(_measure(name, paths, model, args.workers, args.repeat, tmp))
            print(json.dumps(results[-1], indent=1), flush=True)
    report = {
        "machine": machine(),
        "load_average": load,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.batch_vs_api " + " ".join(sys.argv[1:]),
        "model": model_desc,
        "api": f"ser-api, {API_WORKERS} workers, SER_ORT_THREADS=1 (as `make api`), loopback",
        "batch_workers": args.workers,
        "input": "16-bit mono WAV synthesised by bench.common.speech_like, in a temporary folder",
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "batch_vs_api" + (f"-{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(_markdown(report))
    print(_markdown(report))


if __name__ == "__main__":
    main()
