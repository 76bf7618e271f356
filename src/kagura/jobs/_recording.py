"""Recording a checked file's new items on a thread of its own while the job already runs.

The whole file was checked first (:func:`~kagura.jobs._prepare.plan_file`: nothing is sent when a line is
bad), so the calls can start at once: the feeder claims what is recorded so far, and waits for the next
batch when it runs out (the thread wakes it on the loop after each batch). A run that ends early
(interrupted, or stopped at the budget) stops the thread after its current batch and waits for it, so the
ledger is never closed under it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

from kagura.jobs._ledger import SqlLedger
from kagura.jobs._prepare import FilePlan, record_file

__all__ = ["Recording"]


class Recording:
    """Records ``plan``'s new lines of ``path`` into ``ledger``, calling ``on_batch()`` on ``loop`` after
    each batch and at the end."""

    def __init__(
        self,
        ledger: SqlLedger,
        path: Path,
        model: str | None,
        plan: FilePlan,
        loop: asyncio.AbstractEventLoop,
        on_batch: Callable[[], None],
    ) -> None:
        self._stop = threading.Event()
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(on_batch)

        def work() -> None:
            try:
                record_file(ledger, path, model, plan, notify, self._stop)
            except BaseException as exc:  # handed to whoever awaits finished()
                self._done.set_exception(exc)
            else:
                self._done.set_result(None)
            notify()

        self._waiter = asyncio.wrap_future(self._done, loop=loop)
        threading.Thread(target=work, name="kagura-job-recording", daemon=True).start()

    @property
    def done(self) -> bool:
        return self._done.done()

    @property
    def failed(self) -> bool:
        return self._done.done() and self._done.exception() is not None

    async def finished(self) -> None:
        """Wait until every new item is recorded; raises what recording raised."""
        await asyncio.shield(self._waiter)

    def stop(self) -> None:
        """Stop after the current batch and wait for it (blocking); its errors are left to
        :meth:`finished`."""
        self._stop.set()
        with contextlib.suppress(BaseException):
            self._done.result()
