"""``parallel_stream``: each item's :class:`Outcome` as soon as it finishes, with backpressure.

::

    async with parallel_stream(fetch, urls, max_concurrent=10) as outcomes:
        async for outcome in outcomes:
            if good_enough(outcome):
                break          # leaving the block cancels the calls still in flight, and waits for them

The ``async with`` block owns the run (as ``aiometer.amap`` does): when it exits — normally, by
``break``, by an exception, or because the consumer is cancelled — the work still in flight is cancelled
and awaited before the next line runs. A bare ``async for`` over ``parallel_stream(...)`` still works but is
deprecated: after a ``break`` nothing can tell the stream to stop until it is garbage-collected.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Generic, TypeVar

from kagura._checks import known_length
from kagura.core.parallel._api import Options, Progress, outcome_step, validate, worker_count
from kagura.core.parallel._outcome import Outcome
from kagura.core.parallel._pool import run_pool
from kagura.core.parallel._retry import RetryPolicy
from kagura.core.parallel._run import is_failure
from kagura.core.parallel.budgets._limits import Limiter
from kagura.errors import UsageError

__all__ = ["OutcomeStream", "parallel_stream"]

T = TypeVar("T")
R = TypeVar("R")


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
) -> OutcomeStream[R]:
    """Each item's :class:`Outcome` as soon as it finishes: ``async with parallel_stream(...) as outcomes``.

    Outcomes arrive in completion order. By default the first failure cancels the rest and is raised
    from the loop; with ``return_exceptions=True`` failed items are yielded as outcomes with ``error``
    set. Finished outcomes wait for the consumer: once more than ``max_concurrent`` are unread, the
    workers that finished them wait too, so a slow consumer slows the pool down instead of growing
    memory. Leaving the ``async with`` block cancels the work still in flight and waits for it.
    Arguments are checked when this is called, not at the first iteration.
    """
    workers, opts = validate(func, items, max_concurrent, retry, timeout, limiters, cost, on_progress)
    return OutcomeStream(func, items, workers, opts, return_exceptions)


class OutcomeStream(Generic[R]):
    """The outcomes of one :func:`parallel_stream` run: an async context manager and async iterator."""

    __slots__ = ("_args", "_entered", "_feed", "_producer")

    def __init__(
        self,
        func: Callable[[Any], Awaitable[Any]],
        items: Iterable[Any] | AsyncIterable[Any],
        workers: int,
        opts: Options,
        return_exceptions: bool,
    ) -> None:
        self._args: tuple[Callable[[Any], Awaitable[Any]], Iterable[Any] | AsyncIterable[Any], Options] | None
        self._args = (func, items, opts)
        self._feed: _Feed[R] = _Feed(workers, return_exceptions)
        self._producer: asyncio.Task[None] | None = None
        self._entered = False

    async def __aenter__(self) -> OutcomeStream[R]:
        if self._entered or self._producer is not None or self._feed.closed:
            raise UsageError("a parallel_stream can be entered (and iterated) only once")
        self._entered = True
        self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> OutcomeStream[R]:
        return self

    async def __anext__(self) -> Outcome[R]:
        if self._producer is None:
            if self._feed.closed:
                raise StopAsyncIteration
            warnings.warn(
                "iterating parallel_stream(...) without `async with` is deprecated: write "
                "`async with parallel_stream(...) as outcomes: async for outcome in outcomes: ...`, "
                "so that leaving the loop early cancels the work still in flight at once",
                DeprecationWarning,
                stacklevel=2,
            )
            self._start()
        if self._entered:  # `async with` stops the work on the way out
            return await self._feed.next()
        try:
            return await self._feed.next()
        except asyncio.CancelledError:
            # A bare `async for` has no exit to stop the work when its caller is cancelled: stop it here,
            # and wait for it, so no worker outlives the cancelled caller.
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Cancel the work still in flight and wait until it has stopped (idempotent)."""
        self._feed.closed = True
        producer = self._producer
        if producer is not None and not producer.done():
            producer.cancel()
            await asyncio.wait([producer])

    def __del__(self) -> None:
        # The deprecated bare `async for` has no exit: when the stream is dropped after a `break`, stop its
        # work. (The producer holds only the feed, not this object, so dropping it really frees it.)
        producer = self._producer
        if producer is not None and not producer.done():
            try:
                producer.cancel()
            except RuntimeError:  # the loop is already closed: nothing is running any more
                pass

    def _start(self) -> None:
        assert self._args is not None
        func, items, opts = self._args
        self._args = None  # the producer owns them now
        self._producer = asyncio.get_running_loop().create_task(self._feed.produce(func, items, opts))


class _Feed(Generic[R]):
    """The hand-over between the pool's workers and the consumer: a buffer in completion order."""

    __slots__ = (
        "_buffer",
        "_failure",
        "_ready",
        "_return_exceptions",
        "_room",
        "_workers",
        "closed",
        "ended",
    )

    def __init__(self, workers: int, return_exceptions: bool) -> None:
        self._workers = workers
        self._return_exceptions = return_exceptions
        self._buffer: deque[Outcome[R]] = deque()  # finished, unread, in completion order
        self._ready = asyncio.Event()  # something to read, or the run ended
        self._room = asyncio.Event()  # the buffer went back under its bound
        self._failure: BaseException | None = None
        self.ended = False
        self.closed = False

    async def next(self) -> Outcome[R]:
        buffer = self._buffer
        while not buffer:
            if self.ended:
                if self._failure is not None:
                    failure, self._failure = self._failure, None
                    raise failure
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        outcome = buffer.popleft()
        if len(buffer) <= self._workers:
            self._room.set()
        return outcome

    def emit(self, outcome: Outcome[Any]) -> Awaitable[None] | None:
        """A worker finished an item: queue its outcome now (completion order); wait if too many wait."""
        if outcome.error is not None and not self._return_exceptions:
            raise outcome.error
        self._buffer.append(outcome)
        self._ready.set()
        if len(self._buffer) > self._workers:
            return self._wait_for_room()
        return None

    async def _wait_for_room(self) -> None:
        while len(self._buffer) > self._workers:
            self._room.clear()
            await self._room.wait()

    async def produce(
        self, func: Callable[[Any], Awaitable[Any]], items: Iterable[Any] | AsyncIterable[Any], opts: Options
    ) -> None:
        total = known_length(items)
        try:
            if total != 0:
                step = outcome_step(func, opts, total, self.emit)
                await run_pool(items, worker_count(self._workers, total), step)
        except (Exception, asyncio.CancelledError) as exc:
            if not is_failure(exc):
                raise  # the stream is being closed
            self._failure = exc  # handed to the consumer, raised from its loop
        finally:
            self.ended = True
            self._ready.set()
