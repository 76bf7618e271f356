"""The entry points: gather, map (ordered / completion order / outcomes) and stream.

Every entry point takes the same keyword-only knobs and runs on the one pool in ``_pool``:

- ``return_exceptions``: False (default) = fail fast: the first error cancels in-flight siblings, starts
  no new item and is raised. True = errors are returned in place of values and the run completes.
- ``retry``: a :class:`RetryPolicy`; ``timeout``: seconds per attempt (raises the retryable
  :class:`~kagura.errors.KaguraTimeoutError`); ``limiters``: budgets such as :class:`RateLimiter`
  acquired before every attempt; ``cost(item) -> int``: tokens an item spends (for TPM budgets);
  ``on_progress(done, total, failed)``: called after each item ends (``total`` is None for inputs of
  unknown length).

With all of them off, items go through the pool's plain path, which costs no more than a hand-written
worker pool.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from kagura.core.parallel._checks import (
    check_cost_value,
    check_func,
    check_items,
    check_max_concurrent,
    check_optional_callable,
    known_length,
)
from kagura.core.parallel._limits import Limiter
from kagura.core.parallel._outcome import Outcome
from kagura.core.parallel._pool import run_pool
from kagura.core.parallel._retry import RetryPolicy, check_limiters, check_timeout, run_attempts

__all__ = [
    "parallel_gather",
    "parallel_map",
    "parallel_map_outcomes",
    "parallel_map_unordered",
    "parallel_stream",
]

T = TypeVar("T")
R = TypeVar("R")
Items = Iterable[T] | AsyncIterable[T]
Progress = Callable[[int, int | None, int], object]


@dataclass(slots=True)
class _Options:
    retry: RetryPolicy | None
    timeout: float | None
    limiters: tuple[Limiter, ...]
    cost: Callable[[Any], int] | None
    on_progress: Progress | None

    @property
    def plain(self) -> bool:
        """True when no optional feature is on: the pool's hot path applies."""
        return (
            self.retry is None
            and self.timeout is None
            and not self.limiters
            and self.cost is None
            and self.on_progress is None
        )


def _options(
    func: object,
    items: object,
    max_concurrent: object,
    retry: object,
    timeout: object,
    limiters: object,
    cost: object,
    on_progress: object,
) -> tuple[int, _Options]:
    check_func(func)
    check_items(items)
    workers = check_max_concurrent(max_concurrent)
    assert workers is not None
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, got {type(retry).__name__}")
    check_optional_callable("cost", cost)
    check_optional_callable("on_progress", on_progress)
    opts = _Options(retry, check_timeout(timeout), check_limiters(limiters), cost, on_progress)  # type: ignore[arg-type]
    return workers, opts


def _worker_count(workers: int, total: int | None) -> int:
    return workers if total is None else min(workers, total)


def _outcome_step(
    func: Callable[[Any], Awaitable[Any]],
    opts: _Options,
    total: int | None,
    emit: Callable[[Outcome[Any]], Awaitable[None] | None],
) -> Callable[[int, Any], Awaitable[None]]:
    """One item with every feature: budgets, retries, timeout, outcome, progress; then ``emit``."""
    loop = asyncio.get_running_loop()
    retry, timeout, limiters, cost, on_progress = (
        opts.retry,
        opts.timeout,
        opts.limiters,
        opts.cost,
        opts.on_progress,
    )
    counts = [0, 0]  # done, failed

    async def step(index: int, item: Any) -> None:
        started = loop.time()
        tokens = check_cost_value(cost, item) if cost is not None else 0
        attempts = [0]
        try:
            value = await run_attempts(lambda: func(item), retry, timeout, limiters, tokens, attempts)
            error = None
        except Exception as exc:
            value, error = None, exc
        outcome = Outcome(index, value, error, attempts[0], loop.time() - started)
        counts[0] += 1
        if error is not None:
            counts[1] += 1
        if on_progress is not None:
            on_progress(counts[0], total, counts[1])
        pending = emit(outcome)
        if pending is not None:
            await pending

    return step


async def _map(
    func: Callable[[Any], Awaitable[Any]],
    items: Items[Any],
    workers: int,
    opts: _Options,
    return_exceptions: bool,
    ordered: bool,
) -> list[Any]:
    total = known_length(items)
    if total == 0:
        return []
    workers = _worker_count(workers, total)
    sink, finish = _collector(ordered, total)
    if opts.plain:
        await run_pool(items, workers, func=func, sink=sink, return_exceptions=return_exceptions)
    else:

        def emit(outcome: Outcome[Any]) -> None:
            if outcome.error is None:
                sink(outcome.index, outcome.value)
            elif return_exceptions:
                sink(outcome.index, outcome.error)
            else:
                raise outcome.error

        await run_pool(items, workers, _outcome_step(func, opts, total, emit))
    return finish()


def _collector(
    ordered: bool, total: int | None
) -> tuple[Callable[[int, Any], object], Callable[[], list[Any]]]:
    """Where results go: (sink(index, value), finish() -> list)."""
    if ordered and total is not None:
        results: list[Any] = [None] * total  # preallocated: the sink is the list's own C-level __setitem__
        return results.__setitem__, lambda: results
    if ordered:
        by_index: dict[int, Any] = {}
        return by_index.__setitem__, lambda: [by_index[i] for i in range(len(by_index))]
    arrived: list[Any] = []
    append = arrived.append
    return (lambda index, value: append(value)), lambda: arrived


async def parallel_map(
    func: Callable[[T], Awaitable[R]],
    items: Items[T],
    max_concurrent: int = 5,
    *,
    return_exceptions: bool = False,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - per-item timeout, part of the contract
    limiters: Iterable[Limiter] = (),
    cost: Callable[[T], int] | None = None,
    on_progress: Progress | None = None,
) -> list[R]:
    """``await func(item)`` for every item, at most ``max_concurrent`` at once; results in input order.

    ``items`` may be any iterable or async iterable, pulled lazily. See the module docstring for the
    keyword options. Raises the first error (after cancelling the rest) unless ``return_exceptions``.
    """
    workers, opts = _options(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
    return await _map(func, items, workers, opts, return_exceptions, ordered=True)


async def parallel_map_unordered(
    func: Callable[[T], Awaitable[R]],
    items: Items[T],
    max_concurrent: int = 5,
    *,
    return_exceptions: bool = False,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
    limiters: Iterable[Limiter] = (),
    cost: Callable[[T], int] | None = None,
    on_progress: Progress | None = None,
) -> list[R]:
    """Like :func:`parallel_map`, but results are listed in the order the items finished."""
    workers, opts = _options(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
    return await _map(func, items, workers, opts, return_exceptions, ordered=False)


async def parallel_map_outcomes(
    func: Callable[[T], Awaitable[R]],
    items: Items[T],
    max_concurrent: int = 5,
    *,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
    limiters: Iterable[Limiter] = (),
    cost: Callable[[T], int] | None = None,
    on_progress: Progress | None = None,
) -> list[Outcome[R]]:
    """One :class:`Outcome` per item (value or error, attempts, elapsed), in input order; never fails fast."""
    workers, opts = _options(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
    total = known_length(items)
    if total == 0:
        return []
    outcomes: dict[int, Outcome[Any]] = {}

    def emit(outcome: Outcome[Any]) -> None:
        outcomes[outcome.index] = outcome

    await run_pool(items, _worker_count(workers, total), _outcome_step(func, opts, total, emit))
    return [outcomes[i] for i in range(len(outcomes))]


_DONE: Any = object()


def parallel_stream(
    func: Callable[[T], Awaitable[R]],
    items: Items[T],
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
    workers, opts = _options(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
    return _stream(func, items, workers, opts, return_exceptions)


async def _stream(
    func: Callable[[Any], Awaitable[Any]],
    items: Items[Any],
    workers: int,
    opts: _Options,
    return_exceptions: bool,
) -> AsyncIterator[Outcome[Any]]:
    total = known_length(items)
    if total == 0:
        return
    queue: asyncio.Queue[Outcome[Any]] = asyncio.Queue()
    credits = asyncio.Semaphore(workers)  # bounds finished-but-not-consumed outcomes

    async def emit(outcome: Outcome[Any]) -> None:
        if outcome.error is not None and not return_exceptions:
            raise outcome.error
        await credits.acquire()
        queue.put_nowait(outcome)

    async def produce() -> None:
        try:
            await run_pool(items, _worker_count(workers, total), _outcome_step(func, opts, total, emit))
        finally:
            queue.put_nowait(_DONE)

    producer = asyncio.get_running_loop().create_task(produce())
    try:
        while (outcome := await queue.get()) is not _DONE:
            credits.release()
            yield outcome
        await producer  # raises the run's error, if any
    finally:
        if not producer.done():
            producer.cancel()
            await asyncio.wait([producer])


async def parallel_gather(
    *awaitables: Awaitable[Any],
    return_exceptions: bool = False,
    max_concurrent: int | None = None,
) -> list[Any]:
    """Await every awaitable, at most ``max_concurrent`` at once (default: all); results in input order.

    Unlike :func:`asyncio.gather`, a failure (without ``return_exceptions``) cancels the awaitables still
    running and never starts the rest (coroutines not started are closed, futures cancelled).
    """
    try:
        limit = check_max_concurrent(max_concurrent, allow_none=True)
        for position, aw in enumerate(awaitables):
            if not inspect.isawaitable(aw):
                raise TypeError(
                    f"parallel_gather takes awaitables (coroutines, tasks, futures); argument {position} is "
                    f"{type(aw).__name__}. To call a function on many items, use parallel_map(func, items)."
                )
    except (TypeError, ValueError):
        _discard(awaitables)
        raise
    if not awaitables:
        return []
    workers = len(awaitables) if limit is None else min(limit, len(awaitables))
    results: list[Any] = [None] * len(awaitables)
    source = iter(awaitables)
    try:
        await run_pool(
            source, workers, func=_itself, sink=results.__setitem__, return_exceptions=return_exceptions
        )
    except BaseException:
        _discard(source)  # never started: do not leave them dangling
        raise
    return results


def _discard(awaitables: Iterable[object]) -> None:
    """Close coroutines and cancel futures that will never be awaited."""
    for aw in awaitables:
        if inspect.iscoroutine(aw):
            aw.close()
        elif isinstance(aw, asyncio.Future):
            aw.cancel()


def _itself(aw: Awaitable[Any]) -> Awaitable[Any]:
    return aw
