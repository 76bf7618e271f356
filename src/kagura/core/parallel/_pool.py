"""The one worker pool behind every entry point.

At most ``workers`` tasks ever exist. They share a single iterator over the input and pull the next item
only when they are free, so a generator of a million items is consumed lazily and memory stays flat.

Two ways to hand items to the pool:

- **plain** (``func`` + a results list): the hot path with every optional feature off. For synchronous
  iterables a worker is ``for index, item in source: results[index] = await func(item)`` plus error
  handling, nothing more: no per-item wrapper coroutine, no clock reads, no allocation but the result.
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
        if isinstance(error, TypeError) and "can't be used in 'await' expression" in str(error):
            hint = TypeError(
                f"{error}: func must be an async function, or return an awaitable, for every item"
            )
            error = hint.with_traceback(error.__traceback__)
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
    results: list[Any] | None = None,
    mode: str = "place",
    return_exceptions: bool = False,
) -> None:
    """Run every item through ``step``, or through ``func`` into ``results``, with at most ``workers`` tasks.

    Plain ``mode`` says where ``func``'s values (or, with ``return_exceptions``, its errors) go:
    ``"place"`` at their index in the preallocated ``results``, ``"grow"`` likewise but ``results`` grows
    as items are pulled (inputs of unknown length), ``"append"`` in completion order.
    """
    run = _Run()
    if step is None:
        assert func is not None and results is not None
        if isinstance(items, AsyncIterable):
            step = _plain_step(func, results, mode, return_exceptions)
        else:
            source = iter(items) if mode == "append" else enumerate(items)
            worker = _PLAIN_WORKERS[mode](run, source, func, results, return_exceptions)
            await _drive(run, worker, workers)
            return
    if isinstance(items, AsyncIterable):
        worker = _async_worker(run, aiter(items), step)
    else:
        worker = _step_worker(run, enumerate(items), step)
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


# The plain workers: the hot path, one small loop per result layout, written out for speed.
Worker = Callable[[], Awaitable[None]]


def _place_worker(run: _Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    async def worker() -> None:
        for index, item in source:
            try:
                results[index] = await func(item)
            except Exception as exc:
                if not return_exceptions:
                    run.abort(exc)
                    return
                results[index] = exc

    return worker


def _grow_worker(run: _Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    append = results.append

    async def worker() -> None:
        for index, item in source:
            append(None)  # items are pulled in index order, so this slot is results[index]
            try:
                results[index] = await func(item)
            except Exception as exc:
                if not return_exceptions:
                    run.abort(exc)
                    return
                results[index] = exc

    return worker


def _append_worker(run: _Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    append = results.append

    async def worker() -> None:
        for item in source:
            try:
                append(await func(item))
            except Exception as exc:
                if not return_exceptions:
                    run.abort(exc)
                    return
                append(exc)

    return worker


_PLAIN_WORKERS: dict[str, Callable[[_Run, Any, Func, list[Any], bool], Worker]] = {
    "append": _append_worker,
    "grow": _grow_worker,
    "place": _place_worker,
}


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


def _plain_step(func: Func, results: list[Any], mode: str, return_exceptions: bool) -> Step:
    """The plain path for async sources (which need a lock per pull anyway)."""

    async def step(index: int, item: Any) -> None:
        try:
            value = await func(item)
        except Exception as exc:
            if not return_exceptions:
                raise
            value = exc
        if mode == "append":
            results.append(value)
            return
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        results[index] = value

    return step
