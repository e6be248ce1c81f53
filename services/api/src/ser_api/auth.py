"""Optional bearer-key authentication (``SER_API_KEYS``).

With no keys configured every request passes, as before. With keys, each protected request
must carry ``Authorization: Bearer <key>``; the key is compared with every configured one in
constant time (``hmac.compare_digest`` over SHA-256 digests, so neither the matching key nor
a key's length shows in the timing). A refusal is a 401 with ``WWW-Authenticate: Bearer``.

What a key owns (speaker profiles) is filed under :func:`owner_of` the key: its SHA-256, never
the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import Depends, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from ser_api.config import Settings
from ser_contract import ErrorResponse

REALM = "ser-api"
# auto_error=False: a missing or malformed header is refused here, with our own message and
# status, instead of FastAPI's generic 403. The scheme still appears in /docs.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="Set when the service runs with SER_API_KEYS: 'Authorization: Bearer <key>'.",
)


# The 401 of every protected route, as the OpenAPI document lists it.
KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorResponse,
        "description": "SER_API_KEYS is set and the request has no valid 'Authorization: "
        "Bearer' key.",
    }
}


class UnauthorizedError(StarletteHTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=detail,
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_digests(settings: Settings) -> tuple[bytes, ...]:
    """SHA-256 of every configured key, computed once at start-up."""
    return tuple(_digest(key.get_secret_value()) for key in settings.api_keys)


def key_matches(candidate: str, digests: tuple[bytes, ...]) -> bool:
    """True when ``candidate`` is one of the keys; every key is compared, in constant time."""
    supplied = _digest(candidate)
    found = False
    for digest in digests:
        found |= hmac.compare_digest(supplied, digest)
    return found


STREAM_KEY_PARAMETER = "api_key"  # browsers cannot set headers on a WebSocket


def owner_of(key: str | None) -> str:
    """Who owns what a caller stores: the SHA-256 (hex) of its API key; "" for every caller
    of a service without keys."""
    return "" if key is None else _digest(key).hex()


def _websocket_key(websocket: WebSocket) -> str:
    """The key a WebSocket presents (header first, then the query parameter); "" if none."""
    header = websocket.headers.get("authorization", "")
    scheme, _, candidate = header.partition(" ")
    if scheme.lower() != "bearer" or not candidate:
        candidate = websocket.query_params.get(STREAM_KEY_PARAMETER, "")
    return candidate


def websocket_owner(websocket: WebSocket) -> str:
    """:func:`owner_of` the stream's key; call after :func:`websocket_key_problem` passed."""
    digests: tuple[bytes, ...] = websocket.app.state.api_key_digests
    return owner_of(_websocket_key(websocket).strip() if digests else None)


def websocket_key_problem(websocket: WebSocket) -> str | None:
    """Why a WebSocket may not connect, or None: the same keys as every protected route,
    from ``Authorization: Bearer <key>`` or the query parameter ``api_key``."""
    digests: tuple[bytes, ...] = websocket.app.state.api_key_digests
    if not digests:
        return None
    candidate = _websocket_key(websocket)
    if not candidate:
        return (
            "this API needs a key: send 'Authorization: Bearer <key>' or the query parameter "
            f"'{STREAM_KEY_PARAMETER}'"
        )
    return None if key_matches(candidate.strip(), digests) else "the API key is not valid"


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Dependency of every protected route; passes when no keys are configured."""
    digests: tuple[bytes, ...] = request.app.state.api_key_digests
    if not digests:
        return
    if credentials is None:
        raise UnauthorizedError(
            "this API needs a key: send the header 'Authorization: Bearer <key>' "
            "(the operator sets the keys with SER_API_KEYS)"
        )
    if not key_matches(credentials.credentials, digests):
        raise UnauthorizedError("the API key is not valid")


async def request_owner(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    """Dependency: :func:`owner_of` the request's key (checked by :func:`require_api_key`)."""
    digests: tuple[bytes, ...] = request.app.state.api_key_digests
    if not digests or credentials is None:
        return owner_of(None)
    return owner_of(credentials.credentials)
