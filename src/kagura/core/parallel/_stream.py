"""``parallel_stream``: each item's :class:`Outcome` as soon as it finishes, with backpressure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from kagura.core.parallel._api import Options, Progress, outcome_step, validate, worker_count
from kagura.core.parallel._checks import known_length
from kagura.core.parallel._limits import Limiter
from kagura.core.parallel._outcome import Outcome
from kagura.core.parallel._pool import run_pool
from kagura.core.parallel._retry import RetryPolicy

__all__ = ["parallel_stream"]

T = TypeVar("T")
R = TypeVar("R")

_DONE: Any = object()


def parallel_stream(
    func: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    max_concurrent: int = 5,
    *,
    return_exceptions: bool = False,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    limiters: Iterable[Limiter] = (),
    cost: Callable[[T], int] | None = None,
    on_progress: Progress | None = None,
) -> AsyncIterator[Outcome[R]]:
    """Yield each item's :class:`Outcome` as soon as it finishes: ``async for o in parallel_stream(...)``.

    By default the first failure cancels the rest and is raised from the loop; with
    ``return_exceptions=True`` failed items are yielded as outcomes with ``error`` set. Finished outcomes
    wait for the consumer (at most ``max_concurrent`` are buffered): a slow consumer slows the pool down
    instead of growing memory. Leaving the loop early (``break``) cancels the work still in flight.
    Arguments are checked when this is called, not at the first iteration.
    """
    workers, opts = validate(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
    return _stream(func, items, workers, opts, return_exceptions)


async def _stream(
    func: Callable[[Any], Awaitable[Any]],
    items: Iterable[Any] | AsyncIterable[Any],
    workers: int,
    opts: Options,
    return_exceptions: bool,
) -> AsyncIterator[Outcome[Any]]:
    total = known_length(items)
    if total == 0:
        return
    # Bounded: finished-but-unread outcomes hold their worker, so a slow consumer slows the pool down.
    queue: asyncio.Queue[Outcome[Any]] = asyncio.Queue(maxsize=workers)
    failure: list[BaseException] = []  # the run's error, raised from the consumer's loop

    async def emit(outcome: Outcome[Any]) -> None:
        if outcome.error is not None and not return_exceptions:
            raise outcome.error
        await queue.put(outcome)

    async def produce() -> None:
        try:
            await run_pool(items, worker_count(workers, total), outcome_step(func, opts, total, emit))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, who would otherwise wait forever
            failure.append(exc)
        await queue.put(_DONE)  # not reached if the consumer left and we were cancelled

    producer = asyncio.get_running_loop().create_task(produce())
    try:
        while (outcome := await queue.get()) is not _DONE:
            yield outcome
        if failure:
            raise failure[0]
    finally:
        if not producer.done():
            producer.cancel()
            await asyncio.wait([producer])
