"""Every refusal as ``{"detail": "..."}`` with the right status, and its metric reason.

No handler here ever returns a stack trace; an unexpected exception becomes a 500 that
names the request id, with the traceback in the server log under that same id.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ser_api.logs import request_id_var
from ser_features import AudioError

logger = logging.getLogger(__name__)

FILE_FIELD = "file"
FILES_FIELD = "files"

# Every AudioError carries its own metric reason (``error.reason``, e.g. "silent").
AUDIO_ERROR_STATUS = status.HTTP_422_UNPROCESSABLE_CONTENT

_STATUS_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media",
    408: "body_timeout",
    422: "invalid_request",
    503: "overloaded",
}


class ApiError(Exception):
    """A refusal decided by a route (bad form, wrong media type, too many files)."""

    def __init__(self, status_code: int, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.reason = reason


class BodyTooLargeError(StarletteHTTPException):
    """Raised from ``receive`` once a body passes the limit; an HTTPException so that
    FastAPI's form parsing re-raises it instead of turning it into a 400."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        seen = f"is {size} bytes" if size is not None else "exceeds that"
        super().__init__(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            detail=(
                f"the upload is too large: the limit is {limit} bytes "
                f"({limit / 1_048_576:.1f} MiB) and this request {seen}; "
                "send a shorter or compressed (FLAC/OGG) recording"
            ),
        )


class BodyTimeoutError(StarletteHTTPException):
    """Raised from ``receive`` when the body has not fully arrived by the deadline."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            status_code=status.HTTP_408_REQUEST_TIMEOUT,
            detail=(
                f"the request body did not arrive within {timeout_s:g} s; "
                "upload again on a faster connection or send a shorter recording"
            ),
            # The rest of the body may still be on its way: the connection is not reusable.
            headers={"Connection": "close"},
        )


def status_reason(status_code: int) -> str:
    """Metric reason of a refusal known only by its HTTP status."""
    return _STATUS_REASONS.get(status_code, f"http_{status_code}")


def count_error(request: Request, reason: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(reason).inc()


def _json(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


async def handle_api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    count_error(request, error.reason)
    return _json(error.status_code, error.detail)


async def handle_audio_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AudioError)
    count_error(request, error.reason)
    return _json(AUDIO_ERROR_STATUS, str(error))


async def handle_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    count_error(request, status_reason(error.status_code))
    response = _json(error.status_code, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    return response


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    """Turn FastAPI's field errors into one actionable sentence.

    Not multipart at all → 415; the file field missing or not a file → 400.
    """
    assert isinstance(error, RequestValidationError)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    errors = error.errors()
    body_fields = {
        str(e["loc"][1]) for e in errors if len(e.get("loc", ())) > 1 and e["loc"][0] == "body"
    }
    if body_fields and content_type != "multipart/form-data":
        count_error(request, "unsupported_media")
        return _json(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"expected a multipart/form-data upload, got '{content_type or 'no content type'}'"
            f"; e.g. curl -F {FILE_FIELD}=@speech.wav {request.url.path}",
        )
    if body_fields:
        field = sorted(body_fields)[0]
        count_error(request, "missing_field")
        return _json(
            status.HTTP_400_BAD_REQUEST,
            f"form field '{field}' is missing or is not a file upload; send the audio as "
            f"multipart/form-data field '{field}' (curl -F {field}=@speech.wav)",
        )
    count_error(request, "invalid_request")
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return _json(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}: {first.get('msg')}")


async def handle_unexpected(request: Request, error: Exception) -> JSONResponse:
    request_id = request_id_var.get()
    logger.error("unhandled error", exc_info=error)
    count_error(request, "internal")
    return _json(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        f"internal error; please report request id {request_id}",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(AudioError, handle_audio_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(Exception, handle_unexpected)
