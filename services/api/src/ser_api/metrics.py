"""Prometheus metrics, in a registry owned by one app instance (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds. Dense below 50 ms, where a 3-second clip is served, then up to 10-minute files.
LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
AUDIO_BUCKETS_S = (0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300, 600)  # s of audio per upload

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
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
        self.model_info = Gauge(
            "ser_model_info",
            "1 for the loaded model, labelled with its version.",
            ["model_version"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
