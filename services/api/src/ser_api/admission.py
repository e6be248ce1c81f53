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

Places count requests, but a 30-s upload is 19 encoder windows and a 3-s one is 1 (issue 31).
So admission also weighs **work**: each worker knows the windows it has admitted and not yet
finished, and measures how many seconds its compute takes per window (busy time over windows
finished, a decaying average that includes whatever else shares the cores). A recording whose
answer would then come later than ``SER_TARGET_LATENCY_S`` (its own windows behind the work
already admitted) is refused at once with 503 and a ``Retry-After`` of the time that work
needs, unless the worker is idle: an idle worker takes any recording the limits allow, so a
long file is served whenever there is room for it, never starved by the rule.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import status
from starlette.exceptions import HTTPException as StarletteHTTPException

T = TypeVar("T")


class ServiceBusyError(StarletteHTTPException):
    """Every compute slot and queue place of this worker is taken, or the work it holds would
    delay this answer past the latency target; try again shortly."""

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=(detail or "the service is busy: every processing slot and queue place is taken")
            + f"; retry in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


# The measured compute per window starts from the warm-up's figure, weighted as this many
# windows, so the first few answers move the estimate but cannot swing it.
PRIOR_WINDOWS = 8.0
# Each finished recording discounts the earlier measurements by this factor (about the last
# ten recordings count).
DECAY = 0.9


class Admission:
    """Admit a recording to the compute stage, or refuse it when the queue is full.

    Parameters
    ----------
    limiter : the compute slots (also handed to the worker threads)
    max_queued : recordings that may wait for a slot beyond those running
    max_wait_s : seconds a recording may wait for its slot before it is refused
    retry_after_s : seconds advertised in the 503's ``Retry-After`` (at least)
    target_latency_s : the latency the work rule keeps answers within (inf: no work rule)
    seconds_per_window : the first estimate of compute per window (the start-up warm-up's),
        refined by every recording finished
    clock : seconds, monotonic (tests pass their own)

    Not thread-safe: used from the event loop only, like the limiter's bookkeeping.
    """

    def __init__(
        self, limiter: CapacityLimiter, max_queued: int, max_wait_s: float, retry_after_s: int,
        target_latency_s: float = math.inf, seconds_per_window: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.limiter = limiter
        self.capacity = int(limiter.total_tokens) + max_queued
        self.max_wait_s = max_wait_s
        self.retry_after_s = retry_after_s
        self.target_latency_s = target_latency_s
        self.clock = clock
        self.admitted = 0  # running + waiting
        self.work = 0  # windows admitted and not finished
        # Busy seconds and windows finished, both decaying: their ratio is the compute
        # per window as this worker really gets it.
        self._busy_s = seconds_per_window * PRIOR_WINDOWS
        self._done = PRIOR_WINDOWS
        self._fresh_busy_s = 0.0  # busy since the last recording finished
        self._mark = clock()  # when busy time was last counted

    @property
    def seconds_per_window(self) -> float:
        """Measured compute per window of this worker (s)."""
        return self._busy_s / self._done

    def expected_s(self, windows: int) -> float:
        """When a recording of ``windows`` admitted now would be answered (s from now): its
        own windows behind all the work admitted before it."""
        return (self.work + windows) * self.seconds_per_window

    def _count_busy(self) -> None:
        now = self.clock()
        if self.work > 0:
            self._fresh_busy_s += now - self._mark
        self._mark = now

    @asynccontextmanager
    async def work_for(self, windows: int) -> AsyncIterator[None]:
        """Hold ``windows`` of work until the block ends; raises :class:`ServiceBusyError`
        when the worker is busy and the answer would come after the latency target. A block
        that ends normally is measured (a refused or undecodable recording is not: it did
        no compute, and would make the worker look faster than it is)."""
        if self.work > 0 and self.expected_s(windows) > self.target_latency_s:
            wait = math.ceil(self.work * self.seconds_per_window)
            raise ServiceBusyError(
                max(self.retry_after_s, wait),
                f"the service is busy: {self.work} audio windows are ahead of this "
                f"recording's {windows}, about {self.expected_s(windows):.1f} s of work, over "
                f"its {self.target_latency_s:g}-s target",
            )
        self._count_busy()
        self.work += windows
        finished = False
        try:
            yield
            finished = True
        finally:
            self._count_busy()
            self.work -= windows
            if finished:
                self._busy_s = self._busy_s * DECAY + self._fresh_busy_s
                self._done = self._done * DECAY + windows
                self._fresh_busy_s = 0.0

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
