"""Start the real API and the real Streamlit UI on free loopback ports, and stop them.

Used by the browser test, the client's contract test, the live API tests and the front-door
tests (``make api``/``make run``). Every wait is bounded and every process started here is
stopped (its whole process group) when the context exits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "services/ui/src/ser_ui/app.py"
SERVER_START_TIMEOUT_S = 90  # s; cold imports on a 2-core machine busy with training
STOP_TIMEOUT_S = 10  # s between SIGTERM and SIGKILL
POLL_INTERVAL_S = 0.3  # s between readiness probes


def api_import_problem() -> str | None:
    """Why the API cannot run here, or ``None`` when ``ser_api.main`` imports."""
    try:
        import ser_api.main  # noqa: F401
    except ImportError as error:
        return f"the API package cannot be imported yet: {error}"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any SER_* setting of the developer's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SER_")}
    return env | extra


def wait_until_ready(
    name: str, process: subprocess.Popen[bytes], ready_url: str, log: Path
) -> None:
    """Return once ``ready_url`` answers 200; fail the test (with the log's tail) if
    ``process`` exits first or SERVER_START_TIMEOUT_S passes."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{name} not ready in {SERVER_START_TIMEOUT_S} s:\n{_tail(log)}")
        time.sleep(POLL_INTERVAL_S)


@contextmanager
def serving(
    name: str, command: list[str], env: dict[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until ``ready_url`` answers 200; always stop it afterwards."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we can stop it and its children
        )
        try:
            wait_until_ready(name, process, ready_url, log)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def live_api(
    workdir: Path, workers: int = 1, model: Path | None = None, **settings: str
) -> Iterator[str]:
    """The real API serving ``model`` (default: a tiny test model); yields its base URL.

    ``workers`` uvicorn worker processes; ``settings`` are extra environment variables
    (``SER_*``, ``PROMETHEUS_MULTIPROC_DIR``).
    """
    with live_api_process(workdir, workers, model, **settings) as (url, _):
        yield url


@contextmanager
def live_api_process(
    workdir: Path, workers: int = 1, model: Path | None = None, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`live_api`, also yielding the server (with workers: the supervisor) process."""
    from tests.support.tiny_model import build_tiny_model

    model_path = model or build_tiny_model(workdir / "tiny.onnx")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # ser-api, as make run and the container start it.
    command = [sys.executable, "-m", "ser_api.serve"]
    env = clean_env(
        SER_MODEL_PATH=str(model_path), SER_LOG_LEVEL="WARNING", SER_HOST="127.0.0.1",
        SER_PORT=str(port), SER_WORKERS=str(workers), **settings,
    )  # fmt: skip
    with serving("API", command, env, f"{url}/health", workdir / "api.log") as process:
        yield url, process


@contextmanager
def live_ui(workdir: Path, api_url: str) -> Iterator[str]:
    """The Streamlit page talking to ``api_url``; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", str(APP_PATH)]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.fileWatcherType", "none"]
    command += ["--browser.gatherUsageStats", "false"]
    env = clean_env(SER_API_URL=api_url)
    with serving("UI", command, env, f"{url}/_stcore/health", workdir / "ui.log"):
        yield url
