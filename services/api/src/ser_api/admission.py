"""Load shedding: a bounded queue in front of the compute slots.

Each worker runs at most ``SER_MAX_CONCURRENT_INFERENCES`` recordings at once (the
limiter) and lets at most ``SER_MAX_QUEUED_REQUESTS`` more wait for a slot. A recording
beyond that is refused at once with 503 and ``Retry-After``: under overload, clients learn
within milliseconds to come back, instead of every client waiting ever longer in an
unbounded queue. A recording that did get a place but waited longer than
``SER_MAX_QUEUE_WAIT_S`` for its slot (the host is slower than the queue length assumes:
long recordings, other jobs on the cores) is refused the same way when its turn comes, so an
answer that is not shed arrives within about that wait plus its own computing time. When
load drops, the next request finds room again: nothing to reset.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import status
from starlette.exceptions import HTTPException as StarletteHTTPException

T = TypeVar("T")


class ServiceBusyError(StarletteHTTPException):
    """Every compute slot and queue place of this worker is taken; try again shortly."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=(
                "the service is busy: every processing slot and queue place is taken; "
                f"retry in {retry_after_s} s"
            ),
            headers={"Retry-After": str(retry_after_s)},
        )


class Admission:
    """Admit a recording to the compute stage, or refuse it when the queue is full.

    Parameters
    ----------
    limiter : the compute slots (also handed to the worker threads)
    max_queued : recordings that may wait for a slot beyond those running
    max_wait_s : seconds a recording may wait for its slot before it is refused
    retry_after_s : seconds advertised in the 503's ``Retry-After``

    Not thread-safe: used from the event loop only, like the limiter's bookkeeping.
    """

    def __init__(
        self, limiter: CapacityLimiter, max_queued: int, max_wait_s: float, retry_after_s: int
    ) -> None:
        self.limiter = limiter
        self.capacity = int(limiter.total_tokens) + max_queued
        self.max_wait_s = max_wait_s
        self.retry_after_s = retry_after_s
        self.admitted = 0  # running + waiting

    @property
    def full(self) -> bool:
        """No place left: a request arriving now would be refused."""
        return self.admitted >= self.capacity

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold a place until the block ends; raises :class:`ServiceBusyError` when full.

        Yields the deadline (``time.monotonic()`` seconds) by which the work must start.
        """
        if self.full:
            raise ServiceBusyError(self.retry_after_s)
        self.admitted += 1
        try:
            yield time.monotonic() + self.max_wait_s
        finally:
            self.admitted -= 1

    async def run(self, deadline: float, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` in a worker thread once a compute slot is free, unless that is
        after ``deadline``: then :class:`ServiceBusyError`, without running it."""

        def when_fresh() -> T:
            if time.monotonic() > deadline:
                raise ServiceBusyError(self.retry_after_s)
            return func(*args)

        return await to_thread.run_sync(when_fresh, limiter=self.limiter)
