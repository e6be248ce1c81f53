"""Run every benchmark once; write bench/results/latest.json and latest.md.

Usage: python -m bench.run_all [--rss-requests N] [--load-requests N] [--no-baseline]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys

from bench.common import REPO, machine

RESULTS = REPO / "bench" / "results"


def _in_subprocess(module: str) -> dict:
    # Fresh processes: TensorFlow/librosa must not share a process (or threads) with the
    # measured API code, and each number starts from a clean interpreter.
    out = subprocess.run(
        [sys.executable, "-m", module], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
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
    else:
        value = json.dumps(r)
    return f"| {entry['name']} | {value} | {entry['input']} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rss-requests", type=int, default=10_000)
    parser.add_argument("--load-requests", type=int, default=3_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip TensorFlow/librosa")
    args = parser.parse_args()

    from bench import http_load

    entries = []
    server = _in_subprocess("bench.server_side")
    for rate, numbers in server["results"].items():
        entries.append(server | {"name": f"{server['name']}, {rate}", "results": numbers})
    entries += http_load.run(rss_requests=args.rss_requests, load_requests=args.load_requests)
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
