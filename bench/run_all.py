"""Run every benchmark once; write bench/results/latest.json and latest.md.

Usage: python -m bench.run_all [--rss-requests N] [--load-requests N] [--no-baseline]
                               [--compare-model PATH]

Live streams (``python -m bench.stream``, default counts) are timed with the first model.

With a second model (``--compare-model``, or $SER_BENCH_COMPARE_MODEL), it is timed beside the
first in the same run (server-side taking turns at 1 and 2 threads, cold starts taking turns,
load, the 10-minute file, file size) and the second's numbers are also given as ratios of the
first's: ``make bench`` does this with a Model v3-shaped graph (``python -m bench.v3_model``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import COMPARE_ENV, REPO, describe, machine, model_path

RESULTS = REPO / "bench" / "results"


def _in_subprocess(module: str, *args: str) -> dict:
    # Fresh processes: TensorFlow/librosa must not share a process (or threads) with the
    # measured API code, and each number starts from a clean interpreter.
    out = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    return json.loads(out[out.index("{") :])


def _row(entry: dict) -> str:
    r = entry["results"]
    if "p50_ms" in r:
        value = f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms"
        if "throughput_rps" in r:
            value += f", {r['throughput_rps']} req/s, {r['errors']} errors / {r['requests']}"
        if "ratio_to_decode_only" in r:
            value += f", {r['ratio_to_decode_only']} × the decode-only endpoint's req/s"
    elif "seconds" in r:
        value = f"{r['seconds']} s"
    elif "best_s" in r:
        value = f"{r['best_s']} s (median of 3: {r['median_s']} s), {r['segments']} segments"
    elif "rss_after_mib" in r:
        before, after = r["rss_before_mib"], r["rss_after_mib"]
        value = ", ".join(f"{before[pid]} → {after.get(pid, '?')} MiB" for pid in before)
    elif "rss_mib" in r:
        value = ", ".join(f"{mib} MiB" for mib in r["rss_mib"].values())
    elif "first_s" in r:
        value = (f"first {r['first_s']} s {r['first_runs_s']}, "
                 f"second {r['second_s']} s {r['second_runs_s']} (medians, each run)")  # fmt: skip
    elif "first_mb" in r:
        value = f"first {r['first_mb']} MB, second {r['second_mb']} MB"
    elif "ratios" in r:
        value = ", ".join(f"{what} ×{ratio}" for what, ratio in r["ratios"].items())
    else:
        value = json.dumps(r)
    return f"| {entry['name']} | {value} | {entry['input']} |"


def stream_entries(report: dict) -> list[dict]:
    """``bench.stream``'s report as rows: one per stream count, then the sustained count."""
    levels = report["results"]["levels"]
    rows = [
        {**report, "name": f"WS /stream, {n} concurrent real-time streams (window latency)",
         "results": numbers}
        for n, numbers in levels.items()
    ]  # fmt: skip
    target = report["results"]["target_p99_ms"]
    rows.append({**report, "name": f"WS /stream, most real-time streams with p99 ≤ {target:g} ms",
                 "results": {"streams": report["results"]["most_streams_sustained"]}})  # fmt: skip
    return rows


def compared(entries: list[dict], load_requests: int) -> list[dict]:
    """The second model's entries, and its numbers as ratios of the first's (``entries``: the
    first model's, measured earlier in the same run)."""
    from bench import http_load

    first_path, _ = model_path()
    second_path = Path(os.environ[COMPARE_ENV])
    server = _in_subprocess("bench.server_side", "--compare")
    out = []
    ratios = {}
    for threads, row in server["results"].items():
        for which in ("first", "second"):
            out.append(server | {
                "name": f"server-side, 3-s clip, {threads}, {which} model (taking turns)",
                "input": f"{server['input']}; model: {server['models'][which]}",
                "results": row[which],
            })  # fmt: skip
        ratios[f"server-side p50, {threads}"] = row["p50_ratio"]
        ratios[f"server-side p99, {threads}"] = row["p99_ratio"]
    served = http_load.compare(load_requests=load_requests)
    out += served
    by_name = {e["name"]: e["results"] for e in entries + served}
    cold = served[0]["results"]
    ratios["cold start (medians)"] = round(cold["second_s"] / cold["first_s"], 2)
    first_load = next(r for n, r in by_name.items() if n.startswith("HTTP /predict"))
    second_load = next(r for n, r in by_name.items() if n.startswith("second model: HTTP"))
    ratios["req/s at 8 clients"] = round(
        second_load["throughput_rps"] / first_load["throughput_rps"], 2
    )
    ratios["HTTP p99 at 8 clients"] = round(second_load["p99_ms"] / first_load["p99_ms"], 2)
    first_long = next(r for n, r in by_name.items() if n.startswith("10-minute file"))
    second_long = next(r for n, r in by_name.items() if n.startswith("second model: 10-minute"))
    ratios["10-minute file (best of 3)"] = round(second_long["best_s"] / first_long["best_s"], 2)
    sizes = {"first_mb": round(first_path.stat().st_size / 1e6, 2),
             "second_mb": round(second_path.stat().st_size / 1e6, 2)}  # fmt: skip
    ratios["model file"] = round(sizes["second_mb"] / sizes["first_mb"], 1)
    command = "python -m bench.run_all --compare-model PATH"
    models = f"first: {describe(first_path)}; second: {describe(second_path)}"
    return [*out,
            {"name": "model file size", "input": models, "command": command, "results": sizes},
            {"name": "second model / first model, same run", "input": models,
             "command": command, "results": {"ratios": ratios}}]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rss-requests", type=int, default=10_000)
    parser.add_argument("--load-requests", type=int, default=3_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip TensorFlow/librosa")
    parser.add_argument(
        "--compare-model", type=Path, default=os.environ.get(COMPARE_ENV) or None,
        help=f"a second model to time beside the first (default: ${COMPARE_ENV})",
    )  # fmt: skip
    args = parser.parse_args()
    if args.compare_model is not None:
        if not args.compare_model.is_file():
            parser.error(f"--compare-model {args.compare_model}: no such file")
        os.environ[COMPARE_ENV] = str(args.compare_model.resolve())  # for the subprocesses too

    from bench import http_load

    entries = []
    server = _in_subprocess("bench.server_side")
    for rate, numbers in server["results"].items():
        entries.append(server | {"name": f"{server['name']}, {rate}", "results": numbers})
    entries += http_load.run(rss_requests=args.rss_requests, load_requests=args.load_requests)
    entries += stream_entries(_in_subprocess("bench.stream"))
    if not args.no_baseline:
        baseline = _in_subprocess("bench.baseline")
        entries.append(baseline)
        ours = server["results"]["48kHz"]["p50_ms"]
        entries.append(
            {
                "name": "speed-up over the baseline (p50, same 48-kHz 3-s clip)",
                "input": "baseline p50 / server-side p50",
                "command": "python -m bench.run_all",
                "results": {"speedup": round(baseline["results"]["p50_ms"] / ours, 1)},
            }
        )
    if args.compare_model is not None:
        entries += compared(entries, args.load_requests)
    report = {
        "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "make bench  (python -m bench.run_all " + " ".join(sys.argv[1:]) + ")",
        "entries": entries,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"Machine: {report['machine']}  ",
        f"Date: {report['date']}  ",
        f"Command: `{report['command'].strip()}`",
        "",
        "| Benchmark | Result | Input |",
        "|---|---|---|",
        *(
            _row(e) if "speedup" not in e["results"] else
            f"| {e['name']} | ×{e['results']['speedup']} | {e['input']} |"
            for e in entries
        ),
    ]  # fmt: skip
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
