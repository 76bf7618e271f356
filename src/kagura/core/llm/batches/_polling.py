"""Polling a batch until it ends, politely: a backoff schedule that never polls one batch more than once
per ``floor`` seconds (10 s) after its first ``warmup`` seconds (a minute).

:meth:`PollSchedule.delay` is a pure function of the poll number and the time since the first poll, so the
schedule is tested without a clock; :func:`wait_until_ended` runs it with any ``sleep`` and ``clock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from kagura._cancel import cancels, raise_if_cancelled_since
from kagura._checks import check_number
from kagura.core.llm.batches._types import BatchBackend, BatchHandle, BatchStatus
from kagura.errors import KaguraTimeoutError, RetryableError

__all__ = ["PollSchedule", "wait_until_ended"]


@dataclass(frozen=True)
class PollSchedule:
    """Delays between polls: ``first``, growing by ``factor`` up to ``max_delay``; after ``warmup`` seconds
    never less than ``floor``. A retryable error waits at least what the server asked (``Retry-After``)."""

    first: float = 2.0
    factor: float = 1.5
    max_delay: float = 60.0
    warmup: float = 60.0
    floor: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            check_number(f"PollSchedule.{f.name}", value, at_least=0)
        if self.first <= 0 or self.factor < 1 or self.max_delay < self.first or self.floor > self.max_delay:
            raise ValueError(
                "PollSchedule needs first > 0, factor >= 1, first <= max_delay and floor <= max_delay"
            )

    def delay(self, attempt: int, elapsed: float) -> float:
        """Seconds to wait after poll ``attempt`` (0-based), made ``elapsed`` seconds after the first."""
        if attempt < 0 or elapsed < 0:
            raise ValueError("attempt and elapsed must be >= 0")
        grown = self.first * self.factor ** min(attempt, 200)
        wait = min(self.max_delay, grown)
        if elapsed + wait >= self.warmup:  # the next poll falls after the first minute
            wait = max(wait, self.floor)
        return wait


async def wait_until_ended(
    backend: BatchBackend,
    handle: BatchHandle,
    *,
    schedule: PollSchedule | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    give_up_after: float | None = None,
    on_status: Callable[[BatchStatus], object] | None = None,
) -> BatchStatus:
    """Poll ``handle`` on ``schedule`` until it ends; its last status.

    Retryable errors (429, 5xx, dropped connections) are waited out on the same schedule (at least their
    ``retry_after``); fatal ones propagate. ``give_up_after`` seconds (on ``clock``, default the event loop's)
    raises :class:`~kagura.errors.KaguraTimeoutError`. ``on_status`` sees every status polled.
    """
    schedule = schedule or PollSchedule()
    now = clock or asyncio.get_running_loop().time
    start = now()
    attempt = 0
    cancelled_before = cancels()
    while True:
        retry_after = 0.0
        try:
            status = await backend.poll(handle)
        except RetryableError as exc:
            # a cancellation the SDK turned into a dropped connection: stop polling
            raise_if_cancelled_since(cancelled_before, exc)
            retry_after = exc.retry_after or 0.0
        else:
            if on_status is not None:
                on_status(status)
            if status.ended:
                return status
        wait = max(schedule.delay(attempt, now() - start), retry_after)
        if give_up_after is not None and now() - start + wait > give_up_after:
            raise KaguraTimeoutError(f"batch {handle.batch_id} did not end within {give_up_after:g} s")
        await sleep(wait)
        attempt += 1
