"""The application: ``create_app()`` builds it, the lifespan loads the model once.

Run with ``uvicorn ser_api.main:app`` (configured by ``SER_*`` environment variables).
"""

from __future__ import annotations

import io
import logging
import re
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import ValidationError
from threadpoolctl import threadpool_limits

from ser_api import __version__
from ser_api.admission import Admission
from ser_api.auth import key_digests
from ser_api.config import Settings, get_settings
from ser_api.errors import install_error_handlers
from ser_api.logs import configure_logging
from ser_api.metrics import Metrics
from ser_api.middleware import (
    BodyLimitsMiddleware,
    EarlySheddingMiddleware,
    RequestContextMiddleware,
)
from ser_api.routes import public_router, router
from ser_api.speakers import domains_router, speakers_router
from ser_api.speakers_store import SpeakerStore, SpeakerStoreError
from ser_api.streaming import stream_router
from ser_inference import AudioLimits, EmotionClassifier, ModelLoadError

logger = logging.getLogger("ser_api")

MAX_FORM_FIELDS = 16  # non-file form fields: the API reads none, a few are tolerated
MAX_FORM_PART_BYTES = 64 * 1024  # bytes per non-file form field
# Behind the bounded queue: these paths, and the enrolment of more clips into a profile.
COMPUTE_PATHS = frozenset({"/predict", "/predict/batch", "/speakers", "/domains"})
COMPUTE_PATTERN = re.compile(r"/(speakers|domains)/[^/]+/clips")


class StartupError(RuntimeError):
    """The service cannot start; the message is the one line an operator needs."""


def window_cost_s(classifier: EmotionClassifier) -> float:
    """Seconds one voiced window costs end to end (decode, features, graph), timed on a
    synthetic tone after one untimed run (ONNX Runtime's first run allocates): admission's
    first estimate of this worker's compute per window, before any request has measured it."""
    config = classifier.config
    t = np.arange(config.window_samples) / config.sample_rate
    tone = (3000 * np.sin(2 * np.pi * 220.0 * t)).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(config.sample_rate)
        out.writeframes(tone.tobytes())
    clip = buffer.getvalue()
    classifier.predict(clip, AudioLimits())
    started = time.perf_counter()
    classifier.predict(clip, AudioLimits())
    return time.perf_counter() - started


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # numpy's OpenBLAS would start one thread per core for the mel product of every request;
    # those threads fight the inference threads and the other workers for the same cores
    # (profiled: window_features 10 ms instead of 2.7 ms). Concurrency comes from the
    # limiter and the worker processes instead.
    threadpool_limits(limits=1, user_api="blas")
    try:
        classifier = EmotionClassifier.load(
            settings.model_path,
            threads=settings.ort_threads,
            long_recording_threads=settings.long_recording_threads,
        )
    except ModelLoadError as error:
        raise StartupError(f"cannot start the SER API: {error}") from None
    app.state.classifier = classifier
    # Speaker profiles only mean something to a model with an adapted head; without one, no
    # file is opened (or needed: a read-only container serves such a model as before).
    speakers = None
    if classifier.adaptation is not None:
        try:
            speakers = SpeakerStore.open(settings.speaker_db)
        except SpeakerStoreError as error:
            raise StartupError(
                f"cannot start the SER API: {error} (set SER_SPEAKER_DB to a writable file)"
            ) from None
        logger.info("speaker profiles in %s", speakers.path)
    # Domain profiles (issue 30): the same file, their own table; only for a head trained
    # for them.
    domains = None
    if classifier.adaptation is not None and classifier.adaptation.serves_domains:
        try:
            domains = SpeakerStore.open(settings.speaker_db, table="domains")
        except SpeakerStoreError as error:
            speakers.close()
            raise StartupError(
                f"cannot start the SER API: {error} (set SER_SPEAKER_DB to a writable file)"
            ) from None
    app.state.speakers = speakers
    app.state.domains = domains
    window_s = window_cost_s(classifier)
    logger.info("one 3-s window costs %.1f ms here (warm-up)", window_s * 1e3)
    app.state.admission = Admission(
        CapacityLimiter(settings.max_concurrent_inferences),
        max_queued=settings.max_queued_requests,
        max_wait_s=settings.max_queue_wait_s,
        retry_after_s=settings.retry_after_s,
        target_latency_s=settings.target_latency_s,
        seconds_per_window=window_s,
    )
    app.state.started_at = time.monotonic()
    app.state.metrics.model_info.labels(classifier.model_version).set(1)
    logger.info(
        "model %s loaded from %s",
        classifier.model_version,
        settings.model_path,
        extra={"labels": list(classifier.labels), "input_shape": classifier.config.input_shape},
    )
    if settings.exposed and not settings.api_keys:
        logger.warning(
            "listening on %s without API keys: anyone who can reach this address can use "
            "the API; set SER_API_KEYS (and send the key from the web app), or bind to "
            "127.0.0.1",
            settings.bind_address or settings.host,
        )
    try:
        yield
    finally:
        for store in (speakers, domains):
            if store is not None:
                store.close()
    logger.info("shutting down")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. ``settings`` defaults to the environment (``SER_*`` variables)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    metrics = Metrics()
    app = FastAPI(
        title="Speech emotion recognition API",
        version=__version__,
        summary="Upload speech, get its emotion and an emotion timeline.",
        lifespan=lifespan,
        form_limits={
            "max_files": settings.max_batch_files,
            "max_fields": MAX_FORM_FIELDS,
            "max_part_size": MAX_FORM_PART_BYTES,
        },
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.api_key_digests = key_digests(settings)
    app.state.open_streams = 0  # live streams of this worker (WS /stream)
    app.state.speakers = None  # the profile store, opened by the lifespan for an adapted model
    app.state.domains = None  # likewise, for a head trained for domain profiles
    install_error_handlers(app)
    app.include_router(public_router)
    app.include_router(router)
    # An enrolment may carry more clips than a batch: its own cap on the files parsed.
    app.include_router(speakers_router, form_limits={"max_files": settings.max_enrol_files})
    app.include_router(domains_router, form_limits={"max_files": settings.max_enrol_files})
    app.include_router(stream_router)  # checks the key itself: a WebSocket has no Request
    # Added innermost first: the request context wraps everything, so a 413 from the body
    # limit or an early 503 still gets a request id, an access line and a metric.
    app.add_middleware(
        EarlySheddingMiddleware, paths=COMPUTE_PATHS, pattern=COMPUTE_PATTERN, metrics=metrics
    )
    app.add_middleware(
        BodyLimitsMiddleware,
        max_bytes=settings.max_upload_bytes,
        timeout_s=settings.body_timeout_s,
        metrics=metrics,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def _app_from_environment() -> FastAPI:
    try:
        return create_app()
    except ValidationError as error:
        # One line per bad variable instead of a traceback from deep inside the import.
        problems = "; ".join(
            f"SER_{'_'.join(str(p) for p in e['loc']).upper() or '?'}: {e['msg']}"
            for e in error.errors()
        )
        raise SystemExit(f"invalid SER API configuration: {problems}") from None


app = _app_from_environment()
