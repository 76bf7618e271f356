"""A concurrency limit that can change while calls wait on it, shared across threads and event loops."""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque

from kagura.errors import UsageError

__all__ = ["ConcurrencyGate"]


class ConcurrencyGate:
    """At most ``floor(limit)`` holders at once; waiters are admitted first come, first served.

    Unlike ``asyncio.Semaphore`` the limit is a float that may be raised or lowered at any time (lowering
    never interrupts current holders: new entries wait until enough have left), and one gate may be used
    from several threads, each with its own event loop. ``await gate.acquire()`` ... ``gate.release()``.
    """

    __slots__ = ("_in_flight", "_limit", "_lock", "_waiters")

    def __init__(self, limit: float) -> None:
        self._lock = threading.Lock()
        self._limit = self._check(limit)
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @staticmethod
    def _check(limit: float) -> float:
        if isinstance(limit, bool) or not isinstance(limit, int | float) or math.isnan(limit):
            raise TypeError(f"a concurrency limit must be a number, got {limit!r}")
        if limit < 1:
            raise ValueError(f"a concurrency limit must be >= 1, got {limit!r}")
        return float(limit)

    @property
    def limit(self) -> float:
        return self._limit

    @limit.setter
    def limit(self, value: float) -> None:
        with self._lock:
            self._limit = self._check(value)
            self._wake()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _free(self) -> bool:
        return self._in_flight < max(1, math.floor(self._limit))

    async def acquire(self) -> None:
        with self._lock:
            if not self._waiters and self._free():
                self._in_flight += 1
                return
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            entry = (loop, future)
            self._waiters.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                if entry in self._waiters:  # not admitted yet: simply leave the queue
                    self._waiters.remove(entry)
                    return_slot = False
                else:  # admitted, but the wake-up lost the race with the cancellation
                    return_slot = not future.cancelled() and future.done()
            if return_slot:
                self.release()
            raise

    def release(self) -> None:
        with self._lock:
            if self._in_flight <= 0:
                raise UsageError("ConcurrencyGate.release() called more times than acquire()")
            self._in_flight -= 1
            self._wake()

    def _wake(self) -> None:
        """Admit waiters while there is room (lock held); each wake-up runs on the waiter's own loop."""
        while self._waiters and self._free():
            loop, future = self._waiters.popleft()
            self._in_flight += 1
            if loop.is_closed():
                self._in_flight -= 1
                continue
            loop.call_soon_threadsafe(self._hand_over, future)

    def _hand_over(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():  # its caller left between admission and this callback: free the slot
            self.release()
        else:
            future.set_result(None)
