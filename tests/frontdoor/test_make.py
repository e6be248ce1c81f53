"""The Makefile as a newcomer meets it: every target the README, the documentation site or
`make help` names parses and dry-runs, and `make api`, `make run` and `make docs-serve` really
serve and really stop.

A Makefile that does not parse (a variable that references itself) passed every other test
for a week; these start the targets themselves. The servers run in their own process group,
on free ports, and are SIGKILLed in a ``finally`` whatever happens; the checks use SIGTERM
and SIGINT, as a supervisor and Ctrl-C do.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.frontdoor.make import (
    KEEP_VENV,
    SER_API,
    STOP_TIMEOUT_S,
    help_targets,
    kill_group,
    make,
    make_env,
    wait_for_empty_group,
)
from tests.frontdoor.readme import documents_text, readme_make_targets
from tests.support.audio import harmonic_tone, wav_bytes
from tests.ui.live_servers import free_port, serving, wait_until_ready

# Variables a target refuses to run without (make batch); the others ignore them.
DRY_RUN_VARIABLES = ("IN=archive", "OUT=results.parquet")
PREDICT_TIMEOUT_S = 60.0  # s; the shipped model answers a 3-s clip in milliseconds
# What a clean stop never prints: a Python crash, or the shell's (bash ran its
# `kill 0` trap recursively until it overflowed its stack).
CRASH_SIGNS = ("Traceback", "Segmentation fault")


def needs_venv() -> None:
    if not SER_API.exists():
        pytest.skip(f"{SER_API} is missing: `make setup` creates it (`make test` does too)")


def distinct_free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def stop_and_check(process: subprocess.Popen[bytes], sig: signal.Signals, log: Path) -> None:
    """Send ``sig`` to the whole group, as a terminal or a supervisor does; then make must
    exit and every process it started (shell, server supervisor, workers, web app) with it."""
    os.killpg(process.pid, sig)
    process.wait(timeout=STOP_TIMEOUT_S)
    left = wait_for_empty_group(process.pid)
    assert not left, f"still running after {sig.name}: {left}"
    output = log.read_text(errors="replace")
    crashes = [sign for sign in CRASH_SIGNS if sign in output]
    assert not crashes, f"{crashes} in the output of make:\n{output[-2000:]}"


def test_every_target_the_docs_or_make_help_name_dry_runs() -> None:
    named = set(help_targets()) | readme_make_targets(documents_text())
    assert {"help", "test", "run", "api"} <= named  # the parsers found the targets
    failures = {
        target: result.stderr.strip()
        for target in sorted(named)
        if (result := make("-n", target, *DRY_RUN_VARIABLES)).returncode != 0
    }
    assert not failures, failures


@pytest.mark.slow
def test_make_api_answers_health_and_predict_then_stops_on_sigterm(tmp_path: Path) -> None:
    needs_venv()
    (port,) = distinct_free_ports(1)
    url = f"http://127.0.0.1:{port}"
    metrics = tmp_path / "metrics"
    command = ["make", *KEEP_VENV, "api", f"API_PORT={port}", f"METRICS_DIR={metrics}"]
    log = tmp_path / "make-api.log"
    with serving("make api", command, make_env(), f"{url}/health", log) as process:
        try:
            clip = wav_bytes(harmonic_tone(3.0, seed=7))
            answer = httpx.post(
                f"{url}/predict",
                files={"file": ("speech.wav", clip, "audio/wav")},
                timeout=PREDICT_TIMEOUT_S,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["emotion"] in body["probabilities"]
            # make api hands the workers the shared metrics directory (one file per worker).
            assert list(metrics.glob("*.db")), "no worker wrote to METRICS_DIR"
            stop_and_check(process, signal.SIGTERM, log)
        finally:
            kill_group(process.pid)


@pytest.mark.slow
def test_make_run_serves_api_and_web_app_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    needs_venv()
    api_port, ui_port = distinct_free_ports(2)
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    command = ["make", *KEEP_VENV, "run", f"API_PORT={api_port}", f"UI_PORT={ui_port}"]
    command.append(f"METRICS_DIR={tmp_path / 'metrics'}")
    log = tmp_path / "make-run.log"
    with serving("make run (API)", command, make_env(), f"{api}/health", log) as process:
        try:
            wait_until_ready("make run (web app)", process, f"{ui}/", log)
            stop_and_check(process, signal.SIGINT, log)
        finally:
            kill_group(process.pid)


@pytest.mark.slow
def test_make_docs_serve_serves_the_site_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    needs_venv()
    (port,) = distinct_free_ports(1)
    url = f"http://127.0.0.1:{port}"
    command = ["make", *KEEP_VENV, "docs-serve", f"DOCS_PORT={port}"]
    log = tmp_path / "make-docs-serve.log"
    with serving("make docs-serve", command, make_env(), f"{url}/index.html", log) as process:
        try:
            page = httpx.get(f"{url}/api-reference.html", timeout=PREDICT_TIMEOUT_S)
            assert page.status_code == 200
            assert "/predict" in page.text  # the generated page, not only the static ones
            stop_and_check(process, signal.SIGINT, log)
        finally:
            kill_group(process.pid)
