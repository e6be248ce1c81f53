"""Messages of the live stream (``WS /stream``): what the server sends, how it closes.

The client sends binary frames of mono PCM (``encoding`` and ``sample_rate`` in the query)
and, to finish, the text message ``{"event": "end"}``. The server answers with JSON text
messages: one :class:`StreamStart` when the stream is accepted, one :class:`StreamWindow` per
model window as soon as its audio is in, and after ``end`` one :class:`StreamSummary`, then
closes with code 1000. Every other close carries one of :data:`CLOSES`' codes and, as its
reason, ``"<reason>: <what to do>"``.

Additive changes only, as for the HTTP responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from ser_contract.models import _AROUSAL, _UNCERTAIN, _VALENCE, Probability

ENCODINGS = ("pcm_s16le", "f32le")  # little-endian 16-bit integer / 32-bit float, mono
BYTES_PER_SAMPLE = {"pcm_s16le": 2, "f32le": 4}
MIN_STREAM_RATE = 8_000  # Hz
MAX_STREAM_RATE = 48_000  # Hz
STREAM_PATH = "/stream"
END_EVENT = "end"  # the client's {"event": "end"}: flush the last window, summarise, close


def stream_url(base: str, **query: str | int) -> str:
    """The API's base URL (``http(s)://`` or ``ws(s)://``) → ``ws(s)://…/stream?query``."""
    base = base.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            base = ws + base.removeprefix(http)
    return f"{base}{STREAM_PATH}" + (f"?{urlencode(query)}" if query else "")


@dataclass(frozen=True, slots=True)
class StreamClose:
    """One way a stream ends: the WebSocket close code and the metric's ``reason`` label."""

    code: int
    reason: str


# Codes 4xxx are the application's own range (RFC 6455 §7.4.2); their last three digits echo
# the HTTP status an upload would get for the same cause, so they read the same in logs.
DONE = StreamClose(1000, "done")  # summary sent after the client's "end"
UNSUPPORTED = StreamClose(1003, "unsupported")  # encoding or sample rate, before any audio
MALFORMED = StreamClose(1007, "malformed")  # odd byte count for s16, NaN, unknown text message
UNAUTHORIZED = StreamClose(1008, "unauthorized")  # SER_API_KEYS set, no valid key
INTERNAL = StreamClose(1011, "internal")  # a bug: logged with the stream id
BUSY = StreamClose(1013, "busy")  # too many streams, or the worker's queue is full
IDLE = StreamClose(4408, "idle")  # nothing received for SER_STREAM_IDLE_TIMEOUT_S
TOO_LONG = StreamClose(4413, "too_long")  # over SER_STREAM_MAX_DURATION_S
TOO_FAST = StreamClose(4429, "too_fast")  # audio faster than SER_STREAM_MAX_SPEED × real time
CLOSES = (DONE, UNSUPPORTED, MALFORMED, UNAUTHORIZED, INTERNAL, BUSY, IDLE, TOO_LONG, TOO_FAST)


class StreamStart(BaseModel):
    """First message: the stream is accepted; what it will get and what it may send."""

    event: Literal["start"] = "start"
    model_version: str
    labels: list[str]
    window_s: float = Field(description="Seconds of audio per window (as /predict's timeline).")
    hop_s: float = Field(description="Seconds between window starts.")
    max_speed: float = Field(
        description="Audio may arrive at most this many times faster than real time ..."
    )
    burst_s: float = Field(description="... plus this many seconds of audio ahead.")
    max_duration_s: float = Field(description="Longest stream (audio or wall clock), seconds.")
    idle_timeout_s: float = Field(description="Longest pause between two client messages.")
    speaker: str | None = Field(
        None, description="The profile asked for (`?speaker=ID`); null for a plain stream."
    )
    adapted: bool = Field(
        False, description="Whether the windows are answered by the speaker-adapted head."
    )
    adaptation_reason: str | None = Field(
        None, description="Why a profile that was asked for is not used (plain answers)."
    )
    domain: str | None = Field(
        None, description="The domain profile asked for (`?domain=ID`); null otherwise."
    )
    adaptation: Literal["speaker", "domain", "speaker+domain"] | None = Field(
        None, description="With `adapted`: which statistics standardise the adapted head's input."
    )


class StreamWindow(BaseModel):
    """One window of the stream, sent as soon as its last sample has arrived."""

    event: Literal["window"] = "window"
    index: int = Field(ge=0, description="0, 1, 2, … in time order.")
    t_start: float = Field(description="Window start, seconds since the stream's first sample.")
    t_end: float = Field(description="End of the real audio in the window, seconds.")
    silent: bool = Field(description="Below the model's silence level: not classified.")
    emotion: str | None = Field(description="Most probable label; null for silent windows.")
    confidence: Probability | None = Field(description="Calibrated probability of `emotion`.")
    probabilities: dict[str, float] | None = Field(
        description="Every label's calibrated probability (sums to 1); null for silent windows."
    )
    uncertain: bool | None = Field(description=_UNCERTAIN + " Null if silent.")
    arousal: Probability | None = Field(description=_AROUSAL + " Null if silent.")
    valence: Annotated[float, Field(ge=-1.0, le=1.0)] | None = Field(
        description=_VALENCE + " Null if silent."
    )


class StreamSummary(BaseModel):
    """Last message, after the client's ``end``: the whole stream's answer, as /predict
    computes it from its windows (mean of the non-silent windows' probabilities)."""

    event: Literal["summary"] = "summary"
    silent: bool = Field(description="No window above the silence level: nothing classified.")
    emotion: str | None
    confidence: Probability | None
    probabilities: dict[str, float] | None
    uncertain: bool | None
    arousal: Probability | None
    valence: Annotated[float, Field(ge=-1.0, le=1.0)] | None
    duration_s: float = Field(description="Seconds of audio received.")
    windows: int = Field(description="Windows sent, silent ones included.")
    model_version: str
