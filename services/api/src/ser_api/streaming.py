"""``WS /stream``: live audio in, one emotion message per window out.

Thin, like the HTTP routes: the window rule, features, model and answers are
``ser_inference.stream`` (the classifier ``/predict`` serves), the frames' decoding is
:mod:`ser_api.pcm`, the messages and close codes are ``ser_contract.stream``. This module
checks the stream's right to exist (key, format, admission), enforces its limits while it
runs, and moves the scoring off the event loop through the same compute slots as uploads.

Every end is one close code and reason (``ser_contract.stream.CLOSES``), counted in
``ser_stream_closes_total{reason}``; a client that vanishes counts as ``client_gone``.

``?speaker=ID`` (issue 24) answers every window, and the summary, with the speaker-adapted head
standardised by that profile, as ``/predict?speaker=ID`` answers its segments; the start
message then says ``speaker``, ``adapted`` and, for a profile not usable yet (answered by the
plain head), ``adaptation_reason``. ``?domain=ID`` (issue 30) does the same with a domain
profile, alone or with ``?speaker`` (``adaptation`` says which statistics were used). A
profile that cannot be used at all (unknown id, another model's, a model without the head)
closes the stream before any audio, like a bad format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass

from anyio import to_thread
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ser_api.admission import Admission
from ser_api.auth import websocket_key_problem, websocket_owner
from ser_api.config import Settings
from ser_api.errors import ApiError
from ser_api.metrics import Metrics
from ser_api.pcm import MalformedFrameError, PcmDecoder, PcmFormatError
from ser_api.speaker_profiles import adaptation_asked
from ser_contract.stream import (
    BUSY,
    DONE,
    END_EVENT,
    IDLE,
    INTERNAL,
    MALFORMED,
    TOO_FAST,
    TOO_LONG,
    UNAUTHORIZED,
    UNSUPPORTED,
    StreamClose,
    StreamStart,
    StreamSummary,
    StreamWindow,
)
from ser_inference import EmotionClassifier, Standardisation, WindowPrediction, answer_fields
from ser_inference.stream import StreamAnswer, StreamScorer

logger = logging.getLogger("ser_api.stream")

stream_router = APIRouter()

CLIENT_GONE = "client_gone"  # metric reason: the client disconnected without "end"
CANCELLED = "cancelled"  # metric reason: the server stopped (shutdown) while it was open
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455 §5.5: a close frame's reason fits in 125 bytes
MAX_TEXT_MESSAGE_CHARS = 1024  # the only text a client sends is {"event": "end"}


class StreamEnded(Exception):
    """The stream must close now with ``close`` (``detail`` says why, for the client)."""

    def __init__(self, close: StreamClose, detail: str) -> None:
        super().__init__(detail)
        self.close = close
        self.detail = detail


def close_reason(close: StreamClose, detail: str) -> str:
    """``"<reason>: <detail>"`` cut to what a close frame can carry (whole characters)."""
    text = f"{close.reason}: {detail}"
    return text.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


def window_message(index: int, window: WindowPrediction, labels: tuple[str, ...]) -> str:
    """One window as the JSON text the client receives."""
    probabilities = window.probabilities
    return StreamWindow(
        index=index,
        t_start=round(window.start_s, 4),
        t_end=round(window.end_s, 4),
        silent=window.silent,
        probabilities=None
        if probabilities is None
        else {label: float(p) for label, p in zip(labels, probabilities, strict=True)},
        **answer_fields(window.judgement),
    ).model_dump_json()


def summary_message(answer: StreamAnswer, labels: tuple[str, ...], model_version: str) -> str:
    probabilities = answer.probabilities
    return StreamSummary(
        silent=answer.judgement is None,
        probabilities=None
        if probabilities is None
        else {label: float(p) for label, p in zip(labels, probabilities, strict=True)},
        duration_s=round(answer.duration_s, 4),
        windows=answer.n_windows,
        model_version=model_version,
        **answer_fields(answer.judgement),
    ).model_dump_json()


@dataclass(frozen=True, slots=True)
class StreamProfile:
    """The profiles a stream asked for, and how its windows will be answered."""

    speaker: str | None
    domain: str | None
    chosen: Standardisation  # the statistics used (None: plain) and why any was left out

    @property
    def adapted(self) -> bool:
        return self.chosen.stats is not None


class LiveStream:
    """One accepted stream: receive frames, enforce the limits, send windows as they complete."""

    def __init__(
        self,
        websocket: WebSocket,
        decoder: PcmDecoder,
        classifier: EmotionClassifier,
        settings: Settings,
        admission: Admission,
        metrics: Metrics,
        profile: StreamProfile | None = None,
    ) -> None:
        self.websocket = websocket
        self.decoder = decoder
        self.classifier = classifier
        self.settings = settings
        self.admission = admission
        self.metrics = metrics
        self.profile = profile
        self.scorer = StreamScorer(classifier, None if profile is None else profile.chosen.stats)
        self.started = time.monotonic()
        self.sent = 0  # windows sent

    def start_message(self) -> str:
        config = self.classifier.config
        settings = self.settings
        profile = self.profile
        return StreamStart(
            model_version=self.classifier.model_version,
            labels=list(self.classifier.labels),
            window_s=config.window_s,
            hop_s=config.window_hop_s,
            max_speed=settings.stream_max_speed,
            burst_s=settings.stream_burst_s,
            max_duration_s=settings.stream_max_duration_s,
            idle_timeout_s=settings.stream_idle_timeout_s,
            speaker=None if profile is None else profile.speaker,
            adapted=profile is not None and profile.adapted,
            adaptation_reason=None if profile is None else profile.chosen.reason,
            domain=None if profile is None else profile.domain,
            adaptation=None if profile is None else profile.chosen.used,
        ).model_dump_json()

    async def run(self) -> None:
        """Serve until the client's ``end`` (then :class:`StreamEnded` with DONE), a limit
        (:class:`StreamEnded`) or a disconnect (:class:`WebSocketDisconnect`)."""
        await self.websocket.send_text(self.start_message())
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            frame = message.get("bytes")
            if frame is not None:
                self._check_pace(len(frame))
                try:
                    samples = self.decoder.decode(frame)
                except MalformedFrameError as error:
                    raise StreamEnded(MALFORMED, str(error)) from None
                await self._send(await self._score(self.scorer.windower.push(samples)))
            else:
                self._check_end(message.get("text") or "")
                await self._finish()
                raise StreamEnded(DONE, "summary sent")

    async def _receive(self) -> dict:
        elapsed = time.monotonic() - self.started
        left = self.settings.stream_max_duration_s - elapsed
        if left <= 0:
            raise StreamEnded(TOO_LONG, self._too_long_detail())
        timeout = min(self.settings.stream_idle_timeout_s, left)
        try:
            return await asyncio.wait_for(self.websocket.receive(), timeout)
        except TimeoutError:
            if timeout >= left:
                raise StreamEnded(TOO_LONG, self._too_long_detail()) from None
            raise StreamEnded(
                IDLE, f"nothing received for {self.settings.stream_idle_timeout_s:g} s"
            ) from None

    def _too_long_detail(self) -> str:
        return f"the stream limit is {self.settings.stream_max_duration_s:g} s; reconnect"

    def _check_pace(self, n_bytes: int) -> None:
        """Refuse, before decoding, a frame that takes the stream over its audio length or
        faster than ``stream_max_speed`` × real time (beyond the burst allowance)."""
        decoder = self.decoder
        audio_s = (decoder.samples_in + decoder.samples_of(n_bytes)) / decoder.source_rate
        if audio_s > self.settings.stream_max_duration_s:
            raise StreamEnded(TOO_LONG, self._too_long_detail())
        elapsed = time.monotonic() - self.started
        allowed = self.settings.stream_burst_s + self.settings.stream_max_speed * elapsed
        if audio_s > allowed:
            raise StreamEnded(
                TOO_FAST,
                f"{audio_s:.1f} s of audio in {elapsed:.1f} s; at most "
                f"{self.settings.stream_max_speed:g}x real time + {self.settings.stream_burst_s:g} s",
            )

    def _check_end(self, text: str) -> None:
        try:
            event = json.loads(text[:MAX_TEXT_MESSAGE_CHARS]).get("event")
        except (ValueError, AttributeError):
            event = None
        if event != END_EVENT:
            raise StreamEnded(
                MALFORMED, 'text messages must be {"event": "end"}; send audio as binary frames'
            )

    async def _score(self, windows: list) -> list[WindowPrediction]:
        if not windows:
            return []
        # Features and the model take milliseconds of CPU: off the event loop, through the
        # same compute slots as uploads, so streams and uploads share the cores fairly.
        return await to_thread.run_sync(self.scorer.score, windows, limiter=self.admission.limiter)

    async def _send(self, windows: list[WindowPrediction]) -> None:
        labels = self.classifier.labels
        for window in windows:
            await self.websocket.send_text(window_message(self.sent, window, labels))
            self.sent += 1
            self.metrics.stream_windows.labels("silent" if window.silent else "scored").inc()

    async def _finish(self) -> None:
        await self._send(await self._score(self.scorer.windower.push(self.decoder.flush())))
        last, answer = await to_thread.run_sync(self.scorer.finish, limiter=self.admission.limiter)
        await self._send(last)
        await self.websocket.send_text(
            summary_message(answer, self.classifier.labels, self.classifier.model_version)
        )


async def _close(websocket: WebSocket, close: StreamClose, detail: str) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        # The client may have left meanwhile: nothing to tell it then.
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await websocket.close(close.code, close_reason(close, detail))


async def _stream_profile(
    websocket: WebSocket, classifier: EmotionClassifier
) -> StreamProfile | None:
    """The ``?speaker=ID`` and ``?domain=ID`` profiles, None without either; refuses
    (UNSUPPORTED, as a bad format) what /predict refuses with 404/409, and ``?adapt``, which
    needs the whole recording."""
    params = websocket.query_params
    if "adapt" in params:
        raise StreamEnded(
            UNSUPPORTED, "adapt=self needs the whole recording: use ?speaker=ID or /predict"
        )
    speaker, domain = params.get("speaker"), params.get("domain")
    if speaker is None and domain is None:
        return None
    state = websocket.app.state
    try:
        asked = await adaptation_asked(
            speaker, None, classifier, state.speakers, websocket_owner(websocket), domain,
            state.domains,
        )  # fmt: skip
    except ApiError as error:
        raise StreamEnded(UNSUPPORTED, error.detail) from None
    return StreamProfile(
        speaker, domain, classifier.standardisation(asked.stats, asked.domain_stats)
    )


@stream_router.websocket("/stream")
async def live_stream(websocket: WebSocket) -> None:
    """Live emotion: see ser_contract.stream for the protocol."""
    state = websocket.app.state
    settings: Settings = state.settings
    metrics: Metrics = state.metrics
    admission: Admission = state.admission
    classifier: EmotionClassifier = state.classifier
    stream_id = uuid.uuid4().hex[:12]
    # Accepted first, so that every refusal reaches the client as a close code and reason
    # (a refused handshake is a bare HTTP 403 to a browser).
    await websocket.accept()
    # Replaced on every way out but one: the task cancelled (the server shutting down).
    outcome, detail = CANCELLED, ""
    counted = False
    try:
        problem = websocket_key_problem(websocket)
        if problem:
            raise StreamEnded(UNAUTHORIZED, problem)
        params = websocket.query_params
        try:
            decoder = PcmDecoder(
                params.get("encoding", "pcm_s16le"),
                params.get("sample_rate", "16000"),
                classifier.config.sample_rate,
            )
        except PcmFormatError as error:
            raise StreamEnded(UNSUPPORTED, str(error)) from None
        profile = await _stream_profile(websocket, classifier)
        if state.open_streams >= settings.max_streams or admission.full:
            raise StreamEnded(
                BUSY, f"{state.open_streams} streams open or the queue is full; retry later"
            )
        state.open_streams += 1
        metrics.streams_open.inc()
        counted = True
        stream = LiveStream(websocket, decoder, classifier, settings, admission, metrics, profile)
        await stream.run()
    except StreamEnded as end:
        outcome, detail = end.close.reason, end.detail
        await _close(websocket, end.close, end.detail)
    except (WebSocketDisconnect, OSError):
        outcome = CLIENT_GONE
    except RuntimeError as error:
        # Starlette raises RuntimeError when sending on a socket the client already closed.
        if websocket.client_state != WebSocketState.CONNECTED:
            outcome = CLIENT_GONE
        else:
            logger.exception("stream %s failed", stream_id)
            outcome, detail = INTERNAL.reason, f"stream {stream_id} failed: {error!r}"
            await _close(websocket, INTERNAL, f"stream {stream_id} failed")
    except Exception:
        logger.exception("stream %s failed", stream_id)
        outcome = INTERNAL.reason
        await _close(websocket, INTERNAL, f"stream {stream_id} failed")
    finally:
        if counted:
            state.open_streams -= 1
            metrics.streams_open.dec()
        metrics.stream_closes.labels(outcome).inc()
        logger.info(
            "stream %s closed: %s %s", stream_id, outcome, detail,
            extra={"stream": stream_id, "reason": outcome},
        )  # fmt: skip
