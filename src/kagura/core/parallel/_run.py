"""The state one pool run shares between its driver and its workers, and what counts as an item's failure."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from kagura._cancel import cancel_pending

__all__ = ["END", "Func", "Run", "Step", "Worker", "is_failure"]

Step = Callable[[int, Any], Awaitable[None]]
Func = Callable[[Any], Awaitable[Any]]
Worker = Callable[[], Awaitable[None]]
END: Any = object()  # "no item": the input is exhausted, or the run failed before this worker started


def is_failure(error: BaseException) -> bool:
    """True if ``error``, just raised in the current task, is an item's own failure (an ``Exception``, or
    a ``CancelledError`` while this task is not being cancelled) rather than a real cancellation.

    An ``Exception`` raised while this task is being cancelled is that cancellation, turned into an error
    by a library below (see :mod:`kagura._cancel`): it is raised as :class:`asyncio.CancelledError` here,
    so a worker never records it as the item's failure and goes on to the next item."""
    if isinstance(error, Exception):
        if cancel_pending():
            raise asyncio.CancelledError() from error
        return True
    if not isinstance(error, asyncio.CancelledError):
        return False
    return asyncio.current_task() is not None and not cancel_pending()


class Run:
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
        """A new worker's first item, or ``END`` if the run failed before it could start."""
        first = self.handoff.popleft()
        if self.error is None:
            return first
        self.handoff.append(first)  # never started: handed to ``dropped`` at the end
        return END

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
