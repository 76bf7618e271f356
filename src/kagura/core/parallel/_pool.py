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
import itertools
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

__all__ = ["is_failure", "run_pool"]

Step = Callable[[int, Any], Awaitable[None]]
Func = Callable[[Any], Awaitable[Any]]
Worker = Callable[[], Awaitable[None]]
_END: Any = object()


def is_failure(error: BaseException) -> bool:
    """True if ``error``, just raised in the current task, is an item's own failure (an ``Exception``, or
    a ``CancelledError`` while this task is not being cancelled) rather than a real cancellation."""
    if isinstance(error, Exception):
        return True
    if not isinstance(error, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return task is not None and task.cancelling() == 0


class _Run:
    """State shared by the driver and the workers of one run."""

    __slots__ = (
        "driver",
        "error",
        "exhausted",
        "finished",
        "handoff",
        "interrupted",
        "limit",
        "live",
        "loop",
        "pulled",
        "tasks",
        "worker",
    )

    def __init__(self, limit: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.limit = limit
        self.tasks: list[asyncio.Task[None]] = []
        self.handoff: deque[Any] = deque()  # each new worker's first item, in start order
        self.worker: Worker | None = None
        self.live = 0  # workers started and not finished
        self.finished = self.loop.create_future()  # set when live drops to 0
        self.error: BaseException | None = None
        self.pulled = 0  # async sources only: items taken so far
        self.exhausted = False
        self.driver: asyncio.Task[Any] | None = None  # set while the driver awaits an async source
        self.interrupted = False

    def start(self, first: Any) -> None:
        """Start one more worker, whose first item is ``first``."""
        assert self.worker is not None
        self.handoff.append(first)
        task = self.loop.create_task(self.worker())  # type: ignore[arg-type]
        self.live += 1
        task.add_done_callback(self._ended)
        self.tasks.append(task)

    def _ended(self, _task: asyncio.Task[None]) -> None:
        self.live -= 1
        if self.live == 0 and not self.finished.done():
            self.finished.set_result(None)

    def first(self) -> Any:
        """A new worker's first item, or ``_END`` if the run failed before it could start."""
        first = self.handoff.popleft()
        if self.error is None:
            return first
        self.handoff.append(first)  # never started: handed to ``dropped`` at the end
        return _END

    def abort(self, error: BaseException) -> None:
        """Record the first fatal error and cancel every other worker (and a pulling driver) right now."""
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
        if self.driver is not None and not self.interrupted:
            self.interrupted = True
            self.driver.cancel()


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
    run = _Run(workers)
    if step is None:
        assert func is not None and results is not None
        if isinstance(items, AsyncIterable):
            step = _plain_step(func, results, mode, return_exceptions)
        else:
            source: Iterator[Any] = iter(items) if mode == "append" else enumerate(items)
            run.worker = _PLAIN_WORKERS[mode](run, source, func, results, return_exceptions)
            await _drive(run, _feed_sync(run, source), dropped, mode == "append")
            return
    if isinstance(items, AsyncIterable):
        pull = _puller(run, aiter(items))
        run.worker = _async_worker(run, pull, step)
        await _drive(run, _feed_async(run, pull), dropped, False)
    else:
        source = enumerate(items)
        run.worker = _step_worker(run, source, step)
        await _drive(run, _feed_sync(run, source), dropped, False)


async def _feed_sync(run: _Run, source: Iterator[Any]) -> None:
    """Pull items and start a worker for each while there is room (never more workers than items)."""
    limit, tasks = run.limit, run.tasks
    for entry in source:
        run.start(entry)
        if len(tasks) >= limit:
            return


def _puller(run: _Run, source: AsyncIterator[Any]) -> Callable[[], Awaitable[Any]]:
    """Take the next ``(index, item)`` from an async source, or ``_END``; one taker at a time."""
    lock = asyncio.Lock()  # an async iterator must not be advanced by two tasks at once

    async def pull() -> Any:
        async with lock:
            if run.exhausted or run.error is not None:
                return _END
            try:
                item = await anext(source)
            except StopAsyncIteration:
                run.exhausted = True
                return _END
            index = run.pulled
            run.pulled += 1
            return index, item

    return pull


async def _feed_async(run: _Run, pull: Callable[[], Awaitable[Any]]) -> None:
    """Like :func:`_feed_sync` for an async source; a fail-fast abort interrupts a pending pull."""
    me = asyncio.current_task()
    run.driver = me
    try:
        while len(run.tasks) < run.limit and (entry := await pull()) is not _END:
            run.start(entry)
    except asyncio.CancelledError:
        if not (run.interrupted and me is not None and me.uncancel() == 0):
            raise  # the caller is cancelled (not only interrupted by a failing item)
    finally:
        run.driver = None


async def _drive(
    run: _Run, feed: Awaitable[None], dropped: Callable[[Any], object] | None, flat: bool
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
    for task in tasks:  # a BaseException (not Exception) escaped a worker
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def _drop(run: _Run, dropped: Callable[[Any], object] | None, flat: bool) -> None:
    """Hand items that were pulled but never started to ``dropped``."""
    while run.handoff:
        entry = run.handoff.popleft()
        if dropped is not None:
            dropped(entry if flat else entry[1])


# The plain workers: the hot path, one small loop per result layout, written out for speed.


def _place_worker(run: _Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    async def worker() -> None:
        if (first := run.first()) is _END:
            return
        try:
            for index, item in itertools.chain((first,), source):
                try:
                    results[index] = await func(item)
                except (Exception, asyncio.CancelledError) as exc:
                    if not is_failure(exc):
                        raise
                    if not return_exceptions:
                        run.abort(exc)
                        return
                    results[index] = exc
        except Exception as exc:  # the input itself failed
            run.abort(exc)

    return worker


def _grow_worker(run: _Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    append = results.append

    async def worker() -> None:
        if (first := run.first()) is _END:
            return
        try:
            for index, item in itertools.chain((first,), source):
                while len(results) <= index:  # pulled in index order, by this worker or the feeder
                    append(None)
                try:
                    results[index] = await func(item)
                except (Exception, asyncio.CancelledError) as exc:
                    if not is_failure(exc):
                        raise
                    if not return_exceptions:
                        run.abort(exc)
                        return
                    results[index] = exc
        except Exception as exc:
            run.abort(exc)

    return worker


def _append_worker(run: _Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    append = results.append

    async def worker() -> None:
        if (first := run.first()) is _END:
            return
        try:
            for item in itertools.chain((first,), source):
                try:
                    append(await func(item))
                except (Exception, asyncio.CancelledError) as exc:
                    if not is_failure(exc):
                        raise
                    if not return_exceptions:
                        run.abort(exc)
                        return
                    append(exc)
        except Exception as exc:
            run.abort(exc)

    return worker


_PLAIN_WORKERS: dict[str, Callable[[_Run, Any, Func, list[Any], bool], Worker]] = {
    "append": _append_worker,
    "grow": _grow_worker,
    "place": _place_worker,
}


def _step_worker(run: _Run, source: Iterator[tuple[int, Any]], step: Step) -> Worker:
    async def worker() -> None:
        if (first := run.first()) is _END:
            return
        try:
            for index, item in itertools.chain((first,), source):
                await step(index, item)
        except (Exception, asyncio.CancelledError) as exc:
            if not is_failure(exc):
                raise
            run.abort(exc)

    return worker


def _async_worker(run: _Run, pull: Callable[[], Awaitable[Any]], step: Step) -> Worker:
    async def worker() -> None:
        entry = run.first()
        try:
            while entry is not _END:
                await step(*entry)
                entry = await pull()
        except (Exception, asyncio.CancelledError) as exc:
            if not is_failure(exc):
                raise
            run.abort(exc)

    return worker


def _plain_step(func: Func, results: list[Any], mode: str, return_exceptions: bool) -> Step:
    """The plain path for async sources (which need a lock per pull anyway)."""

    async def step(index: int, item: Any) -> None:
        try:
            value = await func(item)
        except (Exception, asyncio.CancelledError) as exc:
            if not (return_exceptions and is_failure(exc)):
                raise
            value = exc
        if mode == "append":
            results.append(value)
            return
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        results[index] = value

    return step
