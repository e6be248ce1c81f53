"""HTTP client for the SER inference API: the UI's only way to get a prediction.

Everything the API sends back is parsed with the API's own response models
(:mod:`ser_contract`, ``model_validate_json``), so a changed field surfaces here as one clear
:class:`ApiProtocolError` instead of a ``KeyError`` deep inside a chart. Every failure is an :class:`ApiError`
subclass whose ``detail`` is what a person should read (the API's own ``detail``, verbatim,
when it sent one).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from types import TracebackType
from typing import NamedTuple, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from ser_contract import (
    BatchResponse,
    DomainList,
    DomainResponse,
    HealthResponse,
    ModelResponse,
    PlainAnswer,
    PredictionResponse,
    SpeakerList,
    SpeakerResponse,
)
from ser_contract import Segment as ContractSegment
from ser_contract.formats import AUDIO_MEDIA_TYPES

API_URL_ENV = "SER_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000"
TIMEOUT_ENV = "SER_UI_TIMEOUT_S"
API_KEY_ENV = "SER_UI_API_KEY"
# The API's own key list: when the UI has no key of its own it uses the first of these, so
# one variable configures both sides (docker-compose.yml passes it to both).
API_KEYS_ENV = "SER_API_KEYS"

CONNECT_TIMEOUT_S = 3.0  # s; loopback or LAN: longer means the API is not there
# A 10-minute file must finish server-side in ~2 s, but the API may share 2 busy cores with
# training jobs; a generous read timeout avoids calling a slow-but-working API broken.
DEFAULT_READ_TIMEOUT_S = 60.0  # s, per request
HEALTH_TIMEOUT_S = 5.0  # s; /health and /model are cheap, a slow answer means trouble
MAX_ATTEMPTS = 3  # tries per call for connection failures and 5xx answers
BACKOFF_BASE_S = 0.4  # s; waits 0.4 s, then 0.8 s between the tries
MAX_RETRY_AFTER_S = 5.0  # s; cap on a server's Retry-After so the page never hangs long
# A 503 means "busy, come back": tried this often (waits of about 1+1+1.6+3.2+5 s) before
# the page gives up and says so, instead of the 3 tries of a failing server.
MAX_BUSY_ATTEMPTS = 6
ERROR_BODY_EXCERPT_CHARS = 300  # of a non-JSON error body shown to the user


# --------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """A call to the API failed; ``detail`` is the text to show a person.

    Parameters
    ----------
    detail
        Human-readable reason. For API rejections, the API's ``detail`` verbatim.
    status_code
        HTTP status when the API answered, else ``None``.
    endpoint
        ``"POST /predict"`` etc., for logs and messages.
    """

    def __init__(self, detail: str, *, status_code: int | None = None, endpoint: str = "") -> None:
        self.detail = detail
        self.status_code = status_code
        self.endpoint = endpoint
        prefix = f"{endpoint}: " if endpoint else ""
        status = f"HTTP {status_code}: " if status_code is not None else ""
        super().__init__(f"{prefix}{status}{detail}")


class ApiUnavailableError(ApiError):
    """No connection to the API (not running, wrong URL, refused) after all retries."""


class ApiTimeoutError(ApiError):
    """The API accepted the request but did not answer in time."""


class ApiRejectedError(ApiError):
    """The API refused the request (4xx), e.g. an unsupported or undecodable file."""


class ApiServerError(ApiError):
    """The API failed (5xx) on every try."""


class ApiBusyError(ApiServerError):
    """The API answered 503 (overloaded) on every try, Retry-After waits included."""


class ApiProtocolError(ApiError):
    """The API answered, but not in the shape this client understands."""


# --------------------------------------------------------------------------------------
# Typed results: the API's own response models (ser_contract), plus the client-side outcome
# of one batch file


# One definition of each answer, shared with the API; these names are what the page uses.
Prediction = PredictionResponse  # POST /predict
Segment = ContractSegment  # one window of a prediction's timeline
ModelInfo = ModelResponse  # GET /model, with typed service limits (ServiceLimits)
Health = HealthResponse  # GET /health
Speaker = SpeakerResponse  # POST /speakers, GET /speakers/{id}: a speaker profile
Domain = DomainResponse  # POST /domains, GET /domains/{id}: a place's profile (issue 30)
Plain = PlainAnswer  # the plain head's answer beside an adapted prediction


class AudioFile(NamedTuple):
    """One file to upload: its name (for the API's messages and the results) and bytes."""

    name: str
    content: bytes


@dataclass(frozen=True)
class BatchItem:
    """One file's outcome in a batch: exactly one of ``prediction`` and ``error`` is set."""

    filename: str
    prediction: Prediction | None = None
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        return self.prediction is not None


# --------------------------------------------------------------------------------------
# Client


class ApiClient:
    """Synchronous client for the SER API.

    Retries connection failures and 5xx answers with exponential backoff. That is safe for
    the predictions: they are pure computations with no side effects. Enrolment is not
    (sending the same clips twice would count them twice in the profile), so
    :meth:`enrol` and :meth:`add_clips` are retried only when the API cannot have acted on
    them: no connection was made, or it answered 503 (refused before reading the body). A
    read timeout is never retried, since resending a slow request only makes the person
    wait twice as long.

    Parameters
    ----------
    base_url
        Root of the API, e.g. ``http://127.0.0.1:8000``.
    read_timeout_s
        Seconds to wait for an answer to a prediction request.
    max_attempts
        Tries per call (1 disables retrying).
    backoff_base_s
        Wait before the second try; doubles after each further failure.
    api_key
        Sent as ``Authorization: Bearer <key>`` when the API requires one (SER_API_KEYS).
    on_busy
        Called as ``on_busy(wait_s, attempt)`` before waiting out a 503, so a page can say
        "busy, retrying" instead of showing nothing (or an error).
    transport
        httpx transport, for tests (``httpx.MockTransport``).
    sleep
        Replaces :func:`time.sleep` between retries, for tests.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
        api_key: str | None = None,
        on_busy: Callable[[float, int], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.read_timeout_s = read_timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.on_busy = on_busy
        self.api_key = api_key  # the Live view hands it to the browser's WebSocket
        self._sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": "ser-ui"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(read_timeout_s, connect=CONNECT_TIMEOUT_S),
            transport=transport,
            headers=headers,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiClient:
        """Build a client from ``SER_API_URL``, ``SER_UI_TIMEOUT_S`` (seconds) and the key in
        ``SER_UI_API_KEY`` (else the first of ``SER_API_KEYS``)."""
        environ = os.environ if environ is None else environ
        base_url = environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
        timeout_text = environ.get(TIMEOUT_ENV, "").strip()
        read_timeout_s = DEFAULT_READ_TIMEOUT_S
        if timeout_text:
            try:
                read_timeout_s = float(timeout_text)
            except ValueError:
                raise ValueError(
                    f"{TIMEOUT_ENV}={timeout_text!r} is not a number of seconds"
                ) from None
            if not math.isfinite(read_timeout_s) or read_timeout_s <= 0:
                raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds")
        api_key = environ.get(API_KEY_ENV, "").strip()
        if not api_key:
            api_key = next(
                (k.strip() for k in environ.get(API_KEYS_ENV, "").split(",") if k.strip()), ""
            )
        return cls(base_url, read_timeout_s=read_timeout_s, api_key=api_key or None)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------

    def health(self) -> Health:
        """``GET /health``."""
        response = self._send("GET", "/health", timeout=HEALTH_TIMEOUT_S)
        return parse(HealthResponse, response, "GET /health")

    def model_info(self) -> ModelInfo:
        """``GET /model``: labels, version, calibration, evaluation metrics, limits, licence."""
        response = self._send("GET", "/model", timeout=HEALTH_TIMEOUT_S)
        return parse(ModelResponse, response, "GET /model")

    def predict(
        self, audio: AudioFile, *, speaker: str | None = None, adapt_self: bool = False,
        domain: str | None = None,
    ) -> Prediction:  # fmt: skip
        """``POST /predict`` with one file; raises :class:`ApiRejectedError` on a 4xx.

        Parameters
        ----------
        speaker
            A profile id from :meth:`enrol` (``?speaker=ID``): the answer is adapted to that
            voice when the profile is usable (``adapted``, ``plain`` and
            ``adaptation_reason`` say what happened). An unknown id is a 404.
        adapt_self
            ``?adapt=self``: adapt a long recording to its own speaker.
        domain
            A domain profile id from :meth:`create_domain` (``?domain=ID``): the answer is
            adapted to that place's recordings (with ``speaker``: to both; ``adaptation``
            says which statistics were used).
        """
        if speaker is not None and adapt_self:
            raise ValueError("ask for a speaker profile or for adapt_self, not both")
        params: dict[str, str] = {}
        if speaker is not None:
            params["speaker"] = speaker
        if adapt_self:
            params["adapt"] = "self"
        if domain is not None:
            params["domain"] = domain
        response = self._send(
            "POST", "/predict", files=[("file", _multipart(audio))], params=params
        )
        return parse(PredictionResponse, response, "POST /predict")

    def predict_batch(self, audios: Sequence[AudioFile]) -> list[BatchItem]:
        """``POST /predict/batch``: one :class:`BatchItem` per file, in upload order.

        A file the API rejected becomes an item with ``error`` set; only a failure of the
        whole request (API down, request refused) raises.
        """
        endpoint = "POST /predict/batch"
        if not audios:
            return []
        files = [("files", _multipart(audio)) for audio in audios]
        # Scale the wait with the work: the API processes the files one after another.
        timeout = self.read_timeout_s * max(1.0, len(audios) / 4)
        response = self._send("POST", "/predict/batch", files=files, timeout=timeout)
        body = parse(BatchResponse, response, endpoint)
        return batch_items(body, [audio.name for audio in audios], endpoint)

    def enrol(self, audios: Sequence[AudioFile]) -> Speaker:
        """``POST /speakers``: a new speaker profile from one or more clips of one voice.

        The API keeps statistics of the clips, never the audio; ``usable`` and ``reason``
        say whether answers will be adapted to it yet. A 4xx (:class:`ApiRejectedError`)
        names the bad file; 409 means the model cannot adapt.
        """
        return self._enrolment("POST /speakers", "/speakers", audios)

    def add_clips(self, speaker_id: str, audios: Sequence[AudioFile]) -> Speaker:
        """``POST /speakers/{id}/clips``: more clips for a profile; its updated statistics."""
        path = f"{_speaker_path(speaker_id)}/clips"
        return self._enrolment("POST /speakers/{id}/clips", path, audios)

    def list_speakers(self) -> list[Speaker]:
        """``GET /speakers``: this key's speaker profiles, oldest first (so a person can find
        theirs again after a reload)."""
        endpoint = "GET /speakers"
        response = self._send("GET", "/speakers", timeout=HEALTH_TIMEOUT_S, endpoint=endpoint)
        return parse(SpeakerList, response, endpoint).speakers

    def get_speaker(self, speaker_id: str) -> Speaker:
        """``GET /speakers/{id}``; an unknown (or deleted) profile is a 404."""
        endpoint = "GET /speakers/{id}"
        response = self._send(
            "GET", _speaker_path(speaker_id), timeout=HEALTH_TIMEOUT_S, endpoint=endpoint
        )
        return parse(SpeakerResponse, response, endpoint)

    def delete_speaker(self, speaker_id: str) -> None:
        """``DELETE /speakers/{id}`` (204); an unknown profile is a 404."""
        self._send(
            "DELETE",
            _speaker_path(speaker_id),
            timeout=HEALTH_TIMEOUT_S,
            endpoint="DELETE /speakers/{id}",
        )

    def create_domain(self, audios: Sequence[AudioFile]) -> Domain:
        """``POST /domains``: a profile of a place from a sample of its recordings (any
        speakers, any emotions); statistics only, all files or none."""
        return self._enrolment("POST /domains", "/domains", audios, DomainResponse)

    def add_domain_clips(self, domain_id: str, audios: Sequence[AudioFile]) -> Domain:
        """``POST /domains/{id}/clips``: more recordings for a domain profile."""
        path = f"{_profile_path('/domains', domain_id)}/clips"
        return self._enrolment("POST /domains/{id}/clips", path, audios, DomainResponse)

    def list_domains(self) -> list[Domain]:
        """``GET /domains``: this key's domain profiles, oldest first."""
        endpoint = "GET /domains"
        response = self._send("GET", "/domains", timeout=HEALTH_TIMEOUT_S, endpoint=endpoint)
        return parse(DomainList, response, endpoint).domains

    def delete_domain(self, domain_id: str) -> None:
        """``DELETE /domains/{id}`` (204); an unknown profile is a 404."""
        self._send(
            "DELETE",
            _profile_path("/domains", domain_id),
            timeout=HEALTH_TIMEOUT_S,
            endpoint="DELETE /domains/{id}",
        )

    def _enrolment(
        self, endpoint: str, path: str, audios: Sequence[AudioFile],
        model: type[SpeakerResponse | DomainResponse] = SpeakerResponse,
    ) -> SpeakerResponse | DomainResponse:  # fmt: skip
        if not audios:
            raise ValueError("enrolment needs at least one clip")
        files = [("files", _multipart(audio)) for audio in audios]
        # Every clip is decoded and run through the model, like a batch.
        timeout = self.read_timeout_s * max(1.0, len(audios) / 4)
        response = self._send(
            "POST", path, files=files, timeout=timeout, idempotent=False, endpoint=endpoint
        )
        return parse(model, response, endpoint)

    # -- transport ---------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        idempotent: bool = True,
        endpoint: str | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise.

        ``idempotent=False``: retried only when the API cannot have acted on the request
        (no connection made, or a 503, which the API sends before reading the body).
        ``endpoint`` names the call in errors (default ``"METHOD path"``).
        """
        endpoint = endpoint or f"{method} {path}"
        request_timeout = httpx.Timeout(
            timeout if timeout is not None else self.read_timeout_s, connect=CONNECT_TIMEOUT_S
        )
        last_error: ApiError | None = None
        attempt = 0
        while True:
            attempt += 1
            retry_after_s: float | None = None
            busy = False
            # Whether the API may have acted on this try: then only an idempotent call is
            # sent again.
            maybe_done = False
            try:
                response = self._http.request(
                    method, path, files=files, params=params or None, timeout=request_timeout
                )
            except httpx.TimeoutException as error:
                if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
                    last_error = ApiUnavailableError(
                        f"no connection to the API at {self.base_url} within "
                        f"{CONNECT_TIMEOUT_S:g} s",
                        endpoint=endpoint,
                    )
                else:
                    waited = request_timeout.read
                    raise ApiTimeoutError(
                        f"the API at {self.base_url} did not answer within {waited:g} s",
                        endpoint=endpoint,
                    ) from error
            except (httpx.TransportError, OSError) as error:
                # Refused, reset, DNS failure, server closed the connection mid-answer.
                last_error = ApiUnavailableError(
                    f"cannot reach the API at {self.base_url} ({_short_reason(error)})",
                    endpoint=endpoint,
                )
                maybe_done = not isinstance(error, httpx.ConnectError)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                detail = error_detail(response)
                if status < 500:
                    raise ApiRejectedError(detail, status_code=status, endpoint=endpoint)
                busy = status == 503
                error_type = ApiBusyError if busy else ApiServerError
                last_error = error_type(detail, status_code=status, endpoint=endpoint)
                retry_after_s = _retry_after_s(response)
                maybe_done = not busy
            if maybe_done and not idempotent:
                break
            # Overload is temporary by definition: it gets more (still bounded) tries.
            retrying = busy and self.max_attempts > 1
            limit = max(self.max_attempts, MAX_BUSY_ATTEMPTS) if retrying else self.max_attempts
            if attempt >= limit:
                break
            backoff_s = self.backoff_base_s * 2 ** (attempt - 1)
            wait_s = max(backoff_s, retry_after_s or 0.0)
            if busy:
                wait_s = min(wait_s, MAX_RETRY_AFTER_S)
                if self.on_busy is not None:
                    self.on_busy(wait_s, attempt)
            self._sleep(wait_s)
        assert last_error is not None  # the loop ran at least once and did not return
        raise last_error


# --------------------------------------------------------------------------------------
# Response parsing (public so the app's tests and the API's shape checks can reuse them)


def error_detail(response: httpx.Response) -> str:
    """The text a person should read for an error response.

    FastAPI sends ``{"detail": "..."}`` (returned verbatim) or, for request validation,
    ``{"detail": [{"loc": [...], "msg": "..."}]}`` (messages joined). Anything else falls
    back to an excerpt of the body or the status phrase.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):
            messages = []
            for entry in detail:
                if isinstance(entry, dict) and "msg" in entry:
                    location = ".".join(str(part) for part in entry.get("loc", []))
                    messages.append(f"{location}: {entry['msg']}" if location else entry["msg"])
                else:
                    messages.append(str(entry))
            return "; ".join(messages)
        return str(detail)
    text = response.text.strip()
    if text:
        return text[:ERROR_BODY_EXCERPT_CHARS]
    return response.reason_phrase or f"HTTP {response.status_code}"


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], response: httpx.Response, endpoint: str) -> Model:
    """The answer's body as the API's response ``model``.

    Raises
    ------
    ApiProtocolError
        The body is not JSON or not that model; the message names the first wrong field.
    """
    try:
        return model.model_validate_json(response.content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ApiProtocolError(
            f"answer is not a {model.__name__}: {where}: {first['msg']}{more}",
            status_code=response.status_code,
            endpoint=endpoint,
        ) from None


def batch_items(
    body: BatchResponse, filenames: Sequence[str], endpoint: str = "POST /predict/batch"
) -> list[BatchItem]:
    """Pair the batch answer with the uploaded file names, in order."""
    if len(body.results) != len(filenames):
        raise ApiProtocolError(
            f"sent {len(filenames)} files but got {len(body.results)} results", endpoint=endpoint
        )
    items = []
    for index, (entry, name) in enumerate(zip(body.results, filenames, strict=True)):
        filename = entry.filename or name
        if entry.result is not None:
            items.append(BatchItem(filename=filename, prediction=entry.result))
        elif entry.detail is not None:
            error = ApiRejectedError(
                entry.detail, status_code=entry.status_code, endpoint=f"{endpoint} results[{index}]"
            )
            items.append(BatchItem(filename=filename, error=error))
        else:
            raise ApiProtocolError(
                f"results[{index}] has neither a 'result' nor a 'detail'", endpoint=endpoint
            )
    return items


def _profile_path(route: str, profile_id: str) -> str:
    """``/speakers/{id}`` (or ``/domains/{id}``) with the id escaped: it is the API's, but it
    goes into a URL."""
    if not profile_id:
        raise ValueError(f"a {route.strip('/')[:-1]} id is needed")
    return f"{route}/{quote(profile_id, safe='')}"


def _speaker_path(speaker_id: str) -> str:
    return _profile_path("/speakers", speaker_id)


def _multipart(audio: AudioFile) -> tuple[str, bytes, str]:
    # The content type only helps the API: it decodes by the bytes, not by the name.
    suffix = PurePath(audio.name).suffix.lower()
    return (audio.name, audio.content, AUDIO_MEDIA_TYPES.get(suffix, "application/octet-stream"))


def _retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the delta form only), capped so the page stays responsive."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None


def _short_reason(error: BaseException) -> str:
    text = str(error).strip()
    return text or type(error).__name__
