"""``make fuzz``: schemathesis against a live server's OpenAPI schema, many examples.

Starts ``uvicorn ser_api.main:app`` (2 workers, API key set) on a free loopback port, runs
``schemathesis run`` on its /openapi.json with every check but the two that
bench/schemathesis.toml turns off, saying why, and writes the
summary to bench/results/fuzz.md. Exits non-zero when schemathesis found a failure.

Usage: python -m bench.fuzz [--max-examples 500]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

from bench.common import CLIP_RATE, CLIP_S, REPO, machine, model_path, speech_like, wav
from bench.http_load import Server, first_answer

RESULTS = REPO / "bench" / "results"
FUZZ_KEY = "bench-fuzz-key-0123456789abcdef"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=500)
    args = parser.parse_args()
    model, model_desc = model_path()
    server = Server(model, workers=2, env={"SER_API_KEYS": FUZZ_KEY, "SER_LOG_LEVEL": "ERROR"})
    auth = {"Authorization": f"Bearer {FUZZ_KEY}"}
    try:
        asyncio.run(first_answer(server, wav(speech_like(CLIP_S, CLIP_RATE), CLIP_RATE), auth))
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file", str(REPO / "bench" / "schemathesis.toml"), "run",
            f"{server.url}/openapi.json", "--max-examples", str(args.max_examples),

            "--header", f"Authorization: Bearer {FUZZ_KEY}", "--no-color",
        ]  # fmt: skip
        run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    finally:
        server.stop()
    output = (run.stdout + run.stderr).replace(FUZZ_KEY, "[key]")
    summary = [line for line in output.splitlines() if line.strip()][-25:]
    report = [
        "# Fuzzing the live API (schemathesis)",
        "",
        f"Machine: {machine()}  ",
        f"Server: uvicorn ser_api.main:app, 2 workers, SER_API_KEYS set; model: {model_desc}  ",
        f"Command: `make fuzz` (python -m bench.fuzz --max-examples {args.max_examples})  ",
        f"Exit status: {run.returncode} (0: no failure found)",
        "",
        "```",
        *summary,
        "```",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.md").write_text("\n".join(report) + "\n")
    print(output)
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
