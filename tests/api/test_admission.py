"""The bounded queue in front of the compute slots: admit, refuse with 503, recover."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio
import pytest
from anyio import CapacityLimiter

from ser_api.admission import Admission, ServiceBusyError


async def _fill_then_overflow() -> tuple[int, ServiceBusyError | None, bool]:
    admission = Admission(CapacityLimiter(2), max_queued=3, retry_after_s=7)
    refused = None
    async with AsyncExitStack() as held:
        for _ in range(5):  # 2 running + 3 waiting
            await held.enter_async_context(admission.slot())
        admitted = admission.admitted
        try:
            async with admission.slot():
                pass
        except ServiceBusyError as error:
            refused = error
    # Everything released: the next request is admitted at once.
    async with admission.slot():
        recovered = admission.admitted == 1
    return admitted, refused, recovered


def test_full_queue_refuses_with_retry_after_and_recovers() -> None:
    admitted, refused, recovered = anyio.run(_fill_then_overflow)
    assert admitted == 5
    assert refused is not None and refused.status_code == 503
    assert refused.headers == {"Retry-After": "7"}
    assert recovered


def test_a_failed_request_frees_its_place() -> None:
    async def scenario() -> int:
        admission = Admission(CapacityLimiter(1), max_queued=0, retry_after_s=1)
        with pytest.raises(ValueError):
            async with admission.slot():
                raise ValueError("decoding failed")
        return admission.admitted

    assert anyio.run(scenario) == 0
