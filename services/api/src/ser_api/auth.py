"""Optional bearer-key authentication (``SER_API_KEYS``).

With no keys configured every request passes, as before. With keys, each protected request
must carry ``Authorization: Bearer <key>``; the key is compared with every configured one in
constant time (``hmac.compare_digest`` over SHA-256 digests, so neither the matching key nor
a key's length shows in the timing). A refusal is a 401 with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from ser_api.config import Settings

REALM = "ser-api"
# auto_error=False: a missing or malformed header is refused here, with our own message and
# status, instead of FastAPI's generic 403. The scheme still appears in /docs.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="Set when the service runs with SER_API_KEYS: 'Authorization: Bearer <key>'.",
)


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


def websocket_key_problem(websocket: WebSocket) -> str | None:
    """Why a WebSocket may not connect, or None: the same keys as every protected route,
    from ``Authorization: Bearer <key>`` or the query parameter ``api_key``."""
    digests: tuple[bytes, ...] = websocket.app.state.api_key_digests
    if not digests:
        return None
    header = websocket.headers.get("authorization", "")
    scheme, _, candidate = header.partition(" ")
    if scheme.lower() != "bearer" or not candidate:
        candidate = websocket.query_params.get(STREAM_KEY_PARAMETER, "")
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
