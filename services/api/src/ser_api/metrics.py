"""Prometheus metrics, in a registry owned by one app instance (tests build many apps).

With several uvicorn worker processes each would count only its own requests, and a scrape
would see whichever worker answered it. So when ``PROMETHEUS_MULTIPROC_DIR`` names a
directory (``make run``/``make api`` and the container set it), prometheus-client's
multiprocess mode is used: every worker writes its values to memory-mapped files there, and
``/metrics`` from any worker sums them all. The variable must be set before the process
starts (prometheus-client reads it at import) and the directory must be emptied when the
service starts, not when a single worker restarts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds. Dense below 50 ms, where a 3-second clip is served, then up to 10-minute files.
LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
AUDIO_BUCKETS_S = (0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300, 600)  # s of audio per upload

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Files of "live" gauges (requests in progress) are named after their worker's pid.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def multiprocess_dir() -> Path | None:
    """The shared metrics directory, or None in single-process mode."""
    value = os.environ.get(MULTIPROC_ENV, "").strip()
    return Path(value) if value else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.shared_dir = multiprocess_dir()
        if self.shared_dir is not None:
            # A missing directory would fail on the first metric write, deep in a request.
            self.shared_dir.mkdir(parents=True, exist_ok=True)
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "ser_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ser_http_request_duration_seconds",
            "Time from request start to the last response byte, by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "ser_http_requests_in_progress",
            "Requests being served now.",
            registry=self.registry,
            multiprocess_mode="livesum",  # over the workers alive now
        )
        self.errors = Counter(
            "ser_errors",
            "Refused requests or files, by reason (too_large, undecodable, silent, …).",
            ["reason"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "ser_predictions",
            "Recordings classified, by predicted emotion.",
            ["emotion"],
            registry=self.registry,
        )
        self.answer_heads = Counter(
            "ser_answer_heads",
            "Recordings answered by /predict, by the head that answered (plain, adapted) and "
            "what was asked (plain; speaker: ?speaker=ID; self: ?adapt=self). An unusable "
            "profile is answered by the plain head.",
            ["head", "asked"],
            registry=self.registry,
        )
        self.speaker_profiles = Counter(
            "ser_speaker_profiles",
            "Profile changes: created, clips_added, deleted (speakers); domain_created, "
            "domain_clips_added, domain_deleted (domains).",
            ["action"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "ser_processing_seconds",
            "Server-side time per recording by stage: features (decode+resample+features) "
            "and inference (ONNX Runtime).",
            ["stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.audio_seconds = Histogram(
            "ser_audio_duration_seconds",
            "Length of the classified recordings.",
            buckets=AUDIO_BUCKETS_S,
            registry=self.registry,
        )
        self.streams_open = Gauge(
            "ser_streams_open",
            "Live streams (WS /stream) open now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.stream_windows = Counter(
            "ser_stream_windows",
            "Windows of live streams sent, silent (not classified) or scored.",
            ["kind"],
            registry=self.registry,
        )
        self.stream_closes = Counter(
            "ser_stream_closes",
            "Live streams ended, by reason (done, idle, too_fast, busy, client_gone, …).",
            ["reason"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "ser_model_info",
            "1 for the loaded model, labelled with its version.",
            ["model_version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )

    def render(self) -> bytes:
        """The text exposition format: this process's metrics, or every worker's."""
        if self.shared_dir is None:
            return generate_latest(self.registry)
        self._forget_dead_workers()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.shared_dir))
        return generate_latest(registry)

    def _forget_dead_workers(self) -> None:
        """Drop the live gauges of workers that died (killed and restarted by uvicorn).

        Their counters and histograms stay: what they served still happened.
        """
        for path in self.shared_dir.glob("gauge_live*.db") if self.shared_dir else ():
            match = _LIVE_GAUGE_FILE.fullmatch(path.name)
            if match and not _pid_alive(int(match.group(1))):
                multiprocess.mark_process_dead(int(match.group(1)), str(self.shared_dir))
