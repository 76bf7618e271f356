"""The map entry points (input order, completion order, outcomes) and the per-item step they share.

Every entry point (these, ``parallel_stream``, ``parallel_gather``) runs on the one pool in ``_pool``, and
the item-mapping ones take the same keyword-only knobs:

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
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from kagura._checks import (
    check_callable,
    check_cost_value,
    check_func,
    check_items,
    check_max_concurrent,
    known_length,
)
from kagura.core.parallel._outcome import Outcome
from kagura.core.parallel._pool import run_pool
from kagura.core.parallel._retry import RetryPolicy, check_limiters, check_timeout, run_attempts
from kagura.core.parallel._run import is_failure
from kagura.core.parallel.budgets._limits import Limiter

__all__ = [
    "Options",
    "outcome_step",
    "parallel_map",
    "parallel_map_outcomes",
    "parallel_map_unordered",
    "validate",
    "worker_count",
]

T = TypeVar("T")
R = TypeVar("R")
Items = Iterable[T] | AsyncIterable[T]
Progress = Callable[[int, int | None, int], object]


@dataclass(slots=True)
class Options:
    """The optional per-item features of one run, validated."""

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


def validate(
    func: object,
    items: object,
    max_concurrent: object,
    retry: object,
    timeout: object,
    limiters: object,
    cost: object,
    on_progress: object,
) -> tuple[int, Options]:
    """Check every argument of a mapping entry point; returns (max_concurrent, options)."""
    check_func(func)
    check_items(items)
    workers = check_max_concurrent(max_concurrent)
    assert workers is not None
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, got {type(retry).__name__}")
    check_callable("cost", cost)
    check_callable("on_progress", on_progress)
    opts = Options(retry, check_timeout(timeout), check_limiters(limiters), cost, on_progress)  # type: ignore[arg-type]
    return workers, opts


def worker_count(workers: int, total: int | None) -> int:
    """No more workers than items, when the number of items is known."""
    return workers if total is None else min(workers, total)


def outcome_step(
    func: Callable[[Any], Awaitable[Any]],
    opts: Options,
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
        attempts = [1]
        try:
            if retry is None and not limiters and timeout is None:  # outcome/progress only: no wrappers
                value = await func(item)
            else:
                value = await run_attempts(lambda: func(item), retry, timeout, limiters, tokens, attempts)
            error = None
        except (Exception, asyncio.CancelledError) as exc:  # an item's own CancelledError is its failure
            if not is_failure(exc):
                raise
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
    opts: Options,
    return_exceptions: bool,
    ordered: bool,
) -> list[Any]:
    total = known_length(items)
    if total == 0:
        return []
    workers = worker_count(workers, total)
    mode, results, sink = _collector(ordered, total)
    if opts.plain:
        await run_pool(
            items, workers, func=func, results=results, mode=mode, return_exceptions=return_exceptions
        )
        return results

    def emit(outcome: Outcome[Any]) -> None:
        if outcome.error is None:
            sink(outcome.index, outcome.value)
        elif return_exceptions:
            sink(outcome.index, outcome.error)
        else:
            raise outcome.error

    await run_pool(items, workers, outcome_step(func, opts, total, emit))
    return results


def _collector(ordered: bool, total: int | None) -> tuple[str, list[Any], Callable[[int, Any], object]]:
    """Where results go: the pool's plain mode, the results list, and a sink for the step path."""
    if not ordered:
        arrived: list[Any] = []
        append = arrived.append
        return "append", arrived, lambda index, value: append(value)
    if total is not None:
        placed: list[Any] = [None] * total
        return "place", placed, placed.__setitem__
    grown: list[Any] = []  # unknown length: grows as items are pulled, in index order

    def put(index: int, value: Any) -> None:
        if index >= len(grown):
            grown.extend([None] * (index + 1 - len(grown)))
        grown[index] = value

    return "grow", grown, put


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
    workers, opts = validate(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
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
    workers, opts = validate(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
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
    workers, opts = validate(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
    total = known_length(items)
    if total == 0:
        return []
    _, outcomes, sink = _collector(True, total)

    def emit(outcome: Outcome[Any]) -> None:
        sink(outcome.index, outcome)

    await run_pool(items, worker_count(workers, total), outcome_step(func, opts, total, emit))
    return outcomes
