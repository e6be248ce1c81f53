"""Run the project's ``make`` as a person would, and watch the processes it leaves behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.ui.live_servers import REPO_ROOT, clean_env

MAKE_TIMEOUT_S = 60  # s for one `make -n` or `make help`; they take milliseconds
STOP_TIMEOUT_S = 30  # s for a stopped server's processes to be gone (graceful shutdown: 10 s)
POLL_INTERVAL_S = 0.1  # s
# make's own variables: under `make test` they would pass the outer make's flags (and its
# jobserver, whose descriptors the child does not get) to the make a test starts.
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
# `make run`/`make api` first bring .venv up to date. A test must not reinstall the venv it is
# running from (that is `make setup`'s job, which `make test` runs first): `-o` takes the stamp
# as current even where another component's pyproject.toml changed since.
KEEP_VENV = ("-o", ".venv/.installed-stamp")
SER_API = REPO_ROOT / ".venv" / "bin" / "ser-api"  # what make api runs


def make_env(**extra: str) -> dict[str, str]:
    """The environment a person's shell would give make: no SER_* settings, no outer make."""
    return {k: v for k, v in clean_env(**extra).items() if k not in MAKE_VARIABLES}


def make(*args: str, timeout_s: float = MAKE_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """``make ARGS`` in the repository, output captured."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO_ROOT,
        env=make_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def help_targets() -> list[str]:
    """The targets ``make help`` lists (first column). Fails when ``make help`` does."""
    listing = make("help")
    assert listing.returncode == 0, f"make help failed:\n{listing.stderr}"
    return [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]


def live_group_members(pgid: int) -> list[str]:
    """``"pid command"`` of every process of group ``pgid`` that is still running.

    Zombies are left out: they have exited, and wait only for a parent (here, often an init
    that reaps late) to collect their status.
    """
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the command name (which may hold spaces): state, ppid, pgrp, …
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError):  # exited meanwhile
            continue
        if int(group) == pgid and state != "Z":
            members.append(f"{stat.parent.name} {command.decode(errors='replace').strip()}")
    return members


def wait_for_empty_group(pgid: int, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """Wait until group ``pgid`` has no running process; returns those left at the deadline."""
    deadline = time.monotonic() + timeout_s
    while (members := live_group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
    return members


def kill_group(pgid: int) -> None:
    """SIGKILL whatever is left of group ``pgid`` (a test's last resort, never its check)."""
    with contextlib.suppress(ProcessLookupError):  # nothing left: the usual case
        os.killpg(pgid, signal.SIGKILL)
