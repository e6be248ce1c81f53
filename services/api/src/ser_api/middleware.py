"""Pure ASGI middleware: request id + access log + HTTP metrics, and the body limits.

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task per request, and the body
limits can act on ``receive`` itself, i.e. before the body is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ser_api.admission import Admission, ServiceBusyError
from ser_api.errors import BodyTimeoutError, BodyTooLargeError, status_reason
from ser_api.logs import request_id_var
from ser_api.metrics import Metrics

logger = logging.getLogger("ser_api.access")

REQUEST_ID_HEADER = "x-request-id"
# A client-supplied id is echoed only if it is short and tame (it ends up in logs).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_UNMATCHED_ROUTE = "unmatched"  # metric label for 404s: raw paths would explode cardinality


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestContextMiddleware:
    """Give every request an id (``X-Request-ID`` in and out), log it, measure it.

    For the lifespan scope it shortens a startup failure to its last line, so that a
    missing or broken model makes the server exit with one readable line, not a traceback.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _one_line_startup_failure(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        supplied = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = (
            supplied if supplied and _SAFE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        )
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_code = 500  # if the app dies before answering, that is what the client sees
        self.metrics.in_progress.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.in_progress.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or _UNMATCHED_ROUTE
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status_code)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            logger.info(
                "%s %s %d %.1f ms",
                method,
                scope.get("path", ""),
                status_code,
                elapsed * 1e3,
                extra={"status": status_code, "duration_ms": round(elapsed * 1e3, 2)},
            )
            request_id_var.reset(token)


def _one_line_startup_failure(send: Send) -> Send:
    async def send_short(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed" and message.get("message"):
            lines = [line for line in str(message["message"]).splitlines() if line.strip()]
            message = {**message, "message": lines[-1] if lines else ""}
        await send(message)

    return send_short


class BodyLimitsMiddleware:
    """Refuse request bodies over ``max_bytes`` (413) or slower than ``timeout_s`` (408).

    A declared ``Content-Length`` over the limit is refused before the app runs; a chunked
    or lying body is counted as it streams in and cut off as soon as it passes the limit.
    The whole body must arrive within ``timeout_s`` of the request's start, so a client
    trickling it byte by byte is cut off instead of holding its request open; other clients
    are never blocked by it (the wait is asynchronous).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float, metrics: Metrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_refusal(
                send, BodyTooLargeError(self.max_bytes, int(declared)), self.metrics, close=True
            )
            return

        received = 0
        body_done = False
        response_started = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s

        async def counting_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # afterwards the app only listens for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except (BodyTooLargeError, BodyTimeoutError) as error:
            # Normally FastAPI's handler has already answered; this covers reads elsewhere.
            if response_started:
                raise
            # The unread rest of the body makes the connection unusable.
            await send_refusal(send, error, self.metrics, close=True)


class EarlySheddingMiddleware:
    """Answer 503 before reading the body when the worker's queue is already full.

    The admission in the routes takes its place only once the body is in (so a slow upload
    holds none), which alone would make every refused client first upload and parse its
    whole recording; under overload that parsing ate the CPU the admitted requests needed.
    This checks the same queue when the request starts and refuses at once, taking no place.
    uvicorn discards the unread body and keeps the connection open.
    """

    def __init__(
        self, app: ASGIApp, paths: frozenset[str], metrics: Metrics,
        pattern: re.Pattern[str] | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self.paths = paths
        self.pattern = pattern  # paths with an id in them (fullmatch)
        self.metrics = metrics

    def _computes(self, path: str) -> bool:
        return path in self.paths or bool(self.pattern and self.pattern.fullmatch(path))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self._computes(scope["path"]):
            admission: Admission | None = getattr(scope["app"].state, "admission", None)
            if admission is not None and admission.full:
                await send_refusal(send, ServiceBusyError(admission.retry_after_s), self.metrics)
                return
        await self.app(scope, receive, send)


async def send_refusal(
    send: Send, error: StarletteHTTPException, metrics: Metrics, *, close: bool = False
) -> None:
    """Answer ``{"detail": ...}`` with the error's status and headers, counting its reason."""
    metrics.errors.labels(status_reason(error.status_code)).inc()
    body = json.dumps({"detail": error.detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
