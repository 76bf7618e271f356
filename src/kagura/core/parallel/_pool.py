"""The one worker pool behind every entry point.

At most ``workers`` tasks ever exist. They share a single iterator over the input and pull the next item
only when they are free, so a generator of a million items is consumed lazily and memory stays flat.

Two ways to hand items to the pool:

- **plain** (``func`` + ``sink``, synchronous iterables only): the hot path with every optional feature
  off. A worker is ``for index, item in source: sink(index, await func(item))`` plus error handling,
  nothing more: no per-item wrapper coroutine, no clock reads, no allocations besides the result.
- **step**: ``await step(index, item)`` does everything for one item (retries, budgets, timeouts,
  progress, outcomes); any exception it lets out is fatal.

Failure is fail-fast: the first fatal error cancels every sibling worker at once (their in-flight calls
see ``CancelledError``), no new item starts and the input is not pulled any further; the error is then
raised to the caller. If the caller is cancelled, every worker is cancelled and awaited before the
cancellation propagates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

__all__ = ["run_pool"]

Step = Callable[[int, Any], Awaitable[None]]
Func = Callable[[Any], Awaitable[Any]]
Sink = Callable[[int, Any], object]


class _Run:
    """State shared by the workers of one run."""

    __slots__ = ("error", "exhausted", "pulled", "tasks")

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []
        self.error: BaseException | None = None
        self.pulled = 0  # async sources only: items taken so far
        self.exhausted = False

    def abort(self, error: BaseException) -> None:
        """Record the first fatal error and cancel every other worker right now."""
        if self.error is not None:
            return
        self.error = error
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()


async def run_pool(
    items: Iterable[Any] | AsyncIterable[Any],
    workers: int,
    step: Step | None = None,
    *,
    func: Func | None = None,
    sink: Sink | None = None,
    return_exceptions: bool = False,
) -> None:
    """Run every item through ``step`` (or ``func`` then ``sink``) with at most ``workers`` tasks."""
    run = _Run()
    if isinstance(items, AsyncIterable):
        if step is None:
            assert func is not None and sink is not None
            step = _plain_step(func, sink, return_exceptions)
        worker = _async_worker(run, aiter(items), step)
    elif step is not None:
        worker = _step_worker(run, enumerate(items), step)
    else:
        assert func is not None and sink is not None
        worker = _plain_worker(run, enumerate(items), func, sink, return_exceptions)
    await _drive(run, worker, workers)


async def _drive(run: _Run, worker: Callable[[], Awaitable[None]], workers: int) -> None:
    loop = asyncio.get_running_loop()
    run.tasks = tasks = [loop.create_task(worker()) for _ in range(workers)]  # type: ignore[arg-type]
    try:
        await asyncio.wait(tasks)
    except BaseException:  # we were cancelled: take the workers down with us
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        raise
    if run.error is not None:
        error, run.error = run.error, None
        raise error
    for task in tasks:  # a BaseException (not Exception) escaped a worker
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def _plain_worker(
    run: _Run, source: Iterable[tuple[int, Any]], func: Func, sink: Sink, return_exceptions: bool
) -> Callable[[], Awaitable[None]]:
    async def worker() -> None:
        for index, item in source:
            try:
                value = await func(item)
            except Exception as exc:
                if not return_exceptions:
                    run.abort(exc)
                    return
                value = exc
            sink(index, value)

    return worker


def _step_worker(run: _Run, source: Iterable[tuple[int, Any]], step: Step) -> Callable[[], Awaitable[None]]:
    async def worker() -> None:
        try:
            for index, item in source:
                await step(index, item)
        except Exception as exc:
            run.abort(exc)

    return worker


def _async_worker(run: _Run, source: Any, step: Step) -> Callable[[], Awaitable[None]]:
    lock = asyncio.Lock()  # an async iterator must not be advanced by two tasks at once

    async def worker() -> None:
        try:
            while True:
                async with lock:
                    if run.exhausted:
                        return
                    try:
                        item = await anext(source)
                    except StopAsyncIteration:
                        run.exhausted = True
                        return
                    index = run.pulled
                    run.pulled += 1
                await step(index, item)
        except Exception as exc:
            run.abort(exc)

    return worker


def _plain_step(func: Func, sink: Sink, return_exceptions: bool) -> Step:
    async def step(index: int, item: Any) -> None:
        try:
            value = await func(item)
        except Exception as exc:
            if not return_exceptions:
                raise
            value = exc
        sink(index, value)

    return step
