"""A lean HTTP/1.1 load client: pre-built requests over keep-alive asyncio streams.

httpx spends a millisecond or more of CPU per request, which on a 2-core host is CPU taken
from the server being measured; this client costs a small fraction of that, so the numbers
describe the server. It speaks only what the benchmarks need: Content-Length bodies, no
chunked responses, reconnecting when the server closes a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.common import percentiles

Part = tuple[str, str, bytes, str]  # (form field, file name, content, content type)


def multipart(
    path: str, parts: Sequence[Part], host: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> bytes:
    """The bytes of one ``POST path`` with a multipart/form-data body of file ``parts``."""
    boundary = uuid.uuid4().hex
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
            f"\r\nContent-Type: {content_type}\r\n\r\n".encode()
            + content
            + b"\r\n"
            for name, filename, content, content_type in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    return request("POST", path, body, f"multipart/form-data; boundary={boundary}", host, headers)


def request(
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
    host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> bytes:
    """The bytes of one HTTP/1.1 request with a Content-Length body."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(slots=True)
class Answer:
    status: int  # 0: no answer (connection failed or closed before the response)
    headers: dict[str, str]
    body: bytes
    seconds: float


class Connection:
    """One keep-alive connection; reopened after the server closes it."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout_s = timeout_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes) -> Answer:
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(self._exchange(raw, started), self.timeout_s)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            return Answer(0, {}, b"", time.perf_counter() - started)

    async def _exchange(self, raw: bytes, started: float) -> Answer:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(int(status_line.split()[1]), headers, body, time.perf_counter() - started)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class LoadResult:
    answers: list[Answer] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)  # the request index of each answer
    elapsed_s: float = 0.0

    def summary(self, concurrency: int) -> dict:
        statuses = Counter(a.status for a in self.answers)
        ok = [a.seconds for a in self.answers if a.status == 200]
        return (percentiles(ok) if ok else {}) | {
            "requests": len(self.answers),
            "errors": len(self.answers) - statuses[200],
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "elapsed_s": round(self.elapsed_s, 2),
            "throughput_rps": round(len(self.answers) / max(self.elapsed_s, 1e-9), 1),
            "concurrency": concurrency,
        }


async def hammer(
    url: str,
    next_request: Callable[[int], bytes],
    concurrency: int,
    total: int,
    max_s: float,
    timeout_s: float = 30.0,
    honour_retry_after: bool = False,
) -> LoadResult:
    """``concurrency`` clients send ``next_request(i)`` back to back until ``total`` requests
    were sent or ``max_s`` seconds passed; with ``honour_retry_after``, a client told 503 +
    ``Retry-After`` waits that long first, as the web app and well-behaved clients do."""
    result = LoadResult()
    counter = iter(range(total))
    deadline = time.perf_counter() + max_s

    async def client() -> None:
        connection = Connection(url, timeout_s)
        try:
            for index in counter:
                if time.perf_counter() > deadline:
                    break
                answer = await connection.send(next_request(index))
                result.answers.append(answer)
                result.indices.append(index)
                if honour_retry_after and answer.status == 503:
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result
