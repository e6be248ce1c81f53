"""What every upload route checks before the classifier sees a file: its declared media type,
the service's audio limits, and the refusals they document."""

from __future__ import annotations

from typing import Any

from fastapi import UploadFile, status

from ser_api.config import Settings
from ser_api.errors import ApiError
from ser_contract import ErrorResponse
from ser_inference import AudioLimits

# Declared types that cannot be audio are refused (415) before decoding. Generic or missing
# types, and video (a recording's audio track), are let through: the decoder decides from
# the bytes, not from what the client claims.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "application/ogg", "video/ogg"})
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "Missing form field, or not exactly one file.",
        413: "Request body over SER_MAX_UPLOAD_BYTES.",
        408: "The request body took longer than SER_BODY_TIMEOUT_S to arrive.",
        415: "Not multipart/form-data, or a file declared as a non-audio type.",
        422: "Empty, undecodable, too short, too long, silent or NaN audio.",
        503: "Busy: every compute slot and queue place is taken; see Retry-After.",
    }.items()
}


def check_media_type(upload: UploadFile) -> None:
    """Refuse (415, naming the file) an upload declared as a type that cannot be audio."""
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared in _GENERIC_TYPES or declared.startswith(("audio/", "video/")):
        return
    raise ApiError(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        f"file '{upload.filename}' was sent as '{declared}', which is not audio; "
        "send WAV, FLAC, OGG, AIFF, MP3, M4A, WebM or a video file (or application/octet-stream)",
        reason="unsupported_media",
    )


def audio_limits(settings: Settings) -> AudioLimits:
    """The recording limits this service applies (its settings, not the model's)."""
    return AudioLimits(
        min_duration_s=settings.min_duration_s, max_duration_s=settings.max_duration_s
    )
