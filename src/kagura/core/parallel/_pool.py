"""The one worker pool behind every entry point.

Workers are started only as items are pulled: the pool takes an item, starts a worker task for it, and
does so again while fewer than ``workers`` tasks exist. Once that many run, each worker pulls its next
item from the one shared iterator only when it is free. So there are never more workers than items seen
(``max_concurrent=3_000_000`` over 10 items costs 10 tasks), a generator of a million items is consumed
lazily, and memory stays flat.

Two ways to hand items to the pool:

- **plain** (``func`` + a results list): the hot path with every optional feature off. For synchronous
  iterables a worker is ``for index, item in source: results[index] = await func(item)`` plus error
  handling, nothing more: no per-item wrapper coroutine, no clock reads, no allocation but the result.
- **step**: ``await step(index, item)`` does everything for one item (retries, budgets, timeouts,
  progress, outcomes); any exception it lets out is fatal.

An item's failure is any ``Exception`` it raises, and also a ``CancelledError`` raised while its worker is
not being cancelled (the item awaited something that another component cancelled): that is the item's
error like any other, never a silent hole. A real cancellation (the caller's, or fail-fast) is told
apart by the worker task's ``cancelling()`` count.

Failure is fail-fast: the first fatal error cancels every sibling worker at once (their in-flight calls
see ``CancelledError``), no new item starts and the input is not pulled any further; the error is then
raised to the caller. If the caller is cancelled, every worker is cancelled and awaited before the
cancellation propagates. Items pulled but never started are handed to ``dropped`` (``parallel_gather``
closes such coroutines).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from kagura.core.parallel._run import END, Func, Run, Step
from kagura.core.parallel._workers import PLAIN_WORKERS, async_worker, plain_step, step_worker

__all__ = ["run_pool"]


async def run_pool(
    items: Iterable[Any] | AsyncIterable[Any],
    workers: int,
    step: Step | None = None,
    *,
    func: Func | None = None,
    results: list[Any] | None = None,
    mode: str = "place",
    return_exceptions: bool = False,
    dropped: Callable[[Any], object] | None = None,
) -> None:
    """Run every item through ``step``, or through ``func`` into ``results``, with at most ``workers`` tasks.

    Plain ``mode`` says where ``func``'s values (or, with ``return_exceptions``, its errors) go:
    ``"place"`` at their index in the preallocated ``results``, ``"grow"`` likewise but ``results`` grows
    as items are pulled (inputs of unknown length), ``"append"`` in completion order.
    """
    run = Run(workers)
    if step is None:
        assert func is not None and results is not None
        if isinstance(items, AsyncIterable):
            step = plain_step(func, results, mode, return_exceptions)
        else:
            source: Iterator[Any] = iter(items) if mode == "append" else enumerate(items)
            if mode == "grow":  # a slot for each item as it is pulled (by the driver or a worker)
                source = _with_slots(source, results.append)
            run.worker = PLAIN_WORKERS[mode](run, source, func, results, return_exceptions)
            await _drive(run, _feed_sync(run, source), dropped, mode == "append")
            return
    if isinstance(items, AsyncIterable):
        pull = _puller(run, aiter(items))
        run.worker = async_worker(run, pull, step)
        await _drive(run, _feed_async(run, pull), dropped, False)
    else:
        source = enumerate(items)
        run.worker = step_worker(run, source, step)
        await _drive(run, _feed_sync(run, source), dropped, False)


def _with_slots(source: Iterator[Any], append: Callable[[Any], None]) -> Iterator[Any]:
    """``source``, appending a ``None`` slot to the results at each pull: pulls happen in index order."""
    for entry in source:
        append(None)
        yield entry


async def _feed_sync(run: Run, source: Iterator[Any]) -> None:
    """Pull items and start a worker for each while there is room (never more workers than items)."""
    limit, tasks = run.limit, run.tasks
    for entry in source:
        run.start(entry)
        if len(tasks) >= limit:
            return


def _puller(run: Run, source: AsyncIterator[Any]) -> Callable[[], Awaitable[Any]]:
    """Take the next ``(index, item)`` from an async source, or ``END``; one taker at a time."""
    lock = asyncio.Lock()  # an async iterator must not be advanced by two tasks at once

    async def pull() -> Any:
        async with lock:
            if run.exhausted or run.error is not None:
                return END
            try:
                item = await anext(source)
            except StopAsyncIteration:
                run.exhausted = True
                return END
            index = run.pulled
            run.pulled += 1
            return index, item

    return pull


async def _feed_async(run: Run, pull: Callable[[], Awaitable[Any]]) -> None:
    """Like :func:`_feed_sync` for an async source; a fail-fast abort interrupts a pending pull."""
    me = asyncio.current_task()
    run.driver = me
    try:
        while len(run.tasks) < run.limit and (entry := await pull()) is not END:
            run.start(entry)
    except asyncio.CancelledError:
        if not (run.interrupted and me is not None and me.uncancel() == 0):
            raise  # the caller is cancelled (not only interrupted by a failing item)
    finally:
        run.driver = None


async def _drive(
    run: Run, feed: Awaitable[None], dropped: Callable[[Any], object] | None, flat: bool
) -> None:
    tasks = run.tasks
    try:
        await feed
        if run.live:
            await run.finished
    except BaseException:  # we were cancelled, or the input failed: take the workers down with us
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        _drop(run, dropped, flat)
        raise
    _drop(run, dropped, flat)
    if run.error is not None:
        error, run.error = run.error, None
        raise error
    for task in tasks:
        if task.cancelled():  # by someone outside the run: its item would be a silent hole
            raise asyncio.CancelledError("a worker of the pool was cancelled from outside; its item is lost")
        if task.exception() is not None:  # a BaseException (not Exception) escaped a worker
            raise task.exception()  # type: ignore[misc]


def _drop(run: Run, dropped: Callable[[Any], object] | None, flat: bool) -> None:
    """Hand items that were pulled but never started to ``dropped``."""
    while run.handoff:
        entry = run.handoff.popleft()
        if dropped is not None:
            dropped(entry if flat else entry[1])
