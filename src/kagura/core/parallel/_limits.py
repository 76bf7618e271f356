"""Rate budgets: requests-per-minute and tokens-per-minute over an exact sliding window.

A budget is a small strategy object (a "meter", after aiometer): :class:`SlidingWindow` knows how much was
spent when, and answers "when is the earliest moment ``amount`` more fits?". :class:`RateLimiter` combines
one window per budget (RPM counts requests, TPM counts tokens) behind one lock, so a single limiter can be
shared by every call to a provider: by many tasks, by several ``parallel_map`` runs, and by several threads
each running its own event loop.

Admission is a *reservation*: under the lock, the limiter picks the earliest start time at which one more
request (and its tokens) keeps every 60 s window within budget, records it, and the caller sleeps until
then. Reservations are handed out in arrival order (first come, first served), so a large token request
is never starved by a stream of small ones, and waiting callers never poll.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Limiter", "RateLimiter", "SlidingWindow"]

Clock = Callable[[], float]
_ROUNDING = 1e-9  # seconds: clock readings this close to a reservation count as reaching it


@runtime_checkable
class Limiter(Protocol):
    """Anything the scheduler can ask for permission before starting one request.

    ``await limiter.acquire(tokens)`` returns when one request costing ``tokens`` may start.
    :class:`RateLimiter` is the built-in one; write your own for other budgets.
    """

    async def acquire(self, tokens: int = 0) -> None: ...


class SlidingWindow:
    """At most ``limit`` units spent in any ``period``-second window (a half-open ``[t, t + period)``).

    Not thread-safe on its own: :class:`RateLimiter` holds the lock. Spending must be recorded in
    non-decreasing time order, which reservations guarantee.
    """

    __slots__ = ("_cum", "_expired", "_head", "_times", "_total", "limit", "period")

    def __init__(self, limit: float, period: float = 60.0) -> None:
        if limit <= 0:
            raise ValueError(f"a budget must be positive, got {limit!r}; pass None for no limit")
        self.limit = limit
        self.period = period
        self._times: list[float] = []  # when each spending happened (sorted)
        self._cum: list[float] = []  # running total of amounts, including that spending
        self._head = 0  # entries before _head have left every window that can still matter
        self._total = 0.0  # running total of everything ever spent
        self._expired = 0.0  # running total up to _head

    def earliest(self, amount: float, not_before: float) -> float:
        """The earliest time >= ``not_before`` at which spending ``amount`` keeps every window in budget."""
        # The window ending at t holds total - (spent at or before t - period); need that + amount <= limit.
        need = self._total + amount - self.limit
        if need <= self._expired:
            return not_before
        cum, head = self._cum, self._head
        lo, hi = head, len(cum)
        while lo < hi:  # first entry whose running total reaches `need`
            mid = (lo + hi) // 2
            if cum[mid] < need:
                lo = mid + 1
            else:
                hi = mid
        return max(not_before, self._times[lo] + self.period)

    def spend(self, when: float, amount: float) -> None:
        """Record ``amount`` spent at ``when`` (not earlier than anything recorded before)."""
        if amount <= 0:
            return
        self._total += amount
        self._times.append(when)
        self._cum.append(self._total)

    def unspend(self, when: float, amount: float) -> bool:
        """Take back the most recent spending if it is exactly (``when``, ``amount``); True if it was."""
        if amount <= 0:
            return True
        if len(self._times) > self._head and self._times[-1] == when:
            cum = self._cum
            before = cum[-2] if len(cum) - 1 > self._head else self._expired
            if cum[-1] - before == amount:
                self._times.pop()
                cum.pop()
                self._total -= amount
                return True
        return False

    def forget_before(self, now: float) -> None:
        """Drop spendings that no window starting at or after ``now - period`` can contain."""
        times, horizon = self._times, now - self.period
        head, n = self._head, len(times)
        while head < n and times[head] <= horizon:
            head += 1
        if head != self._head:
            self._expired = self._cum[head - 1]
            if head > 1024 and head * 2 > n:  # compact once most of the list is dead
                del times[:head]
                del self._cum[:head]
                head = 0
            self._head = head

    def spent_in_window(self, now: float) -> float:
        """Units spent in the window ``(now - period, now]``: for introspection and tests."""
        total = 0.0
        prev = self._expired
        for i in range(self._head, len(self._times)):
            if self._times[i] > now - self.period and self._times[i] <= now:
                total += self._cum[i] - prev
            prev = self._cum[i]
        return total


class RateLimiter:
    """Requests-per-minute and/or tokens-per-minute budget over an exact sliding 60 s window.

    ``await limiter.acquire(tokens)`` waits until one request plus ``tokens`` tokens fit: over any 60 s
    window, at most ``requests_per_minute`` requests start and at most ``tokens_per_minute`` tokens are
    spent. Share one limiter per provider key across calls, tasks and threads (each thread with its own
    event loop): state is guarded by a ``threading.Lock`` that is never held across an ``await``.

    ``clock`` returns seconds on a monotonic scale shared by every user of the limiter (default
    ``time.monotonic``, the clock asyncio's default loop uses). Tests pass the loop's virtual clock, e.g.
    ``clock=asyncio.get_running_loop().time`` under ``looptime``.
    """

    __slots__ = ("_clock", "_last", "_lock", "_requests", "_tokens")

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise TypeError(f"{name} must be a number or None, got {type(value).__name__}")
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 (or None for no limit), got {value!r}")
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {type(clock).__name__}")
        self._requests = SlidingWindow(requests_per_minute) if requests_per_minute is not None else None
        self._tokens = SlidingWindow(tokens_per_minute) if tokens_per_minute is not None else None
        self._clock: Clock = clock if clock is not None else time.monotonic
        self._lock = threading.Lock()
        self._last = float("-inf")  # latest reservation handed out: reservations are first come, first served

    @property
    def requests_per_minute(self) -> float | None:
        return self._requests.limit if self._requests is not None else None

    @property
    def tokens_per_minute(self) -> float | None:
        return self._tokens.limit if self._tokens is not None else None

    def __repr__(self) -> str:
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        return f"RateLimiter(requests_per_minute={rpm}, tokens_per_minute={tpm})"

    def reserve(self, tokens: int = 0) -> float:
        """Book the earliest start for one request of ``tokens`` tokens; returns that time on the clock.

        The booking counts against the budget immediately. :meth:`acquire` is this plus the sleep; call
        ``reserve`` directly only if you schedule the start yourself.
        """
        if isinstance(tokens, bool) or not isinstance(tokens, int | float):
            raise TypeError(f"tokens must be a number, got {type(tokens).__name__}")
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, got {tokens!r}")
        tpm = self._tokens
        if tpm is not None and tokens > tpm.limit:
            raise ValueError(
                f"a request of {tokens} tokens can never fit a budget of {tpm.limit} tokens per minute; "
                "split the request or raise tokens_per_minute"
            )
        rpm = self._requests
        with self._lock:
            now = self._clock()
            start = max(now, self._last)
            if rpm is not None:
                rpm.forget_before(now)
                start = rpm.earliest(1, start)
            if tpm is not None and tokens:
                tpm.forget_before(now)
                start = tpm.earliest(tokens, start)
            if rpm is not None:
                rpm.spend(start, 1)
            if tpm is not None:
                tpm.spend(start, tokens)
            self._last = start
            return start

    def _cancel(self, start: float, tokens: int) -> None:
        """Give back a reservation that will not be used, if nothing was booked after it."""
        with self._lock:
            if self._last != start:
                return  # later bookings were computed with it counted; leaving it is safe (conservative)
            if self._requests is not None and not self._requests.unspend(start, 1):
                return
            if self._tokens is not None:
                self._tokens.unspend(start, tokens)

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request costing ``tokens`` tokens may start within the budget."""
        if self._requests is None and self._tokens is None:
            return
        start = self.reserve(tokens)
        clock = self._clock
        try:
            # A loop, not one sleep: a timer may fire early on a clock other than the loop's own. Below a
            # nanosecond the difference is float rounding (start = t + 60.0), not time: stop there.
            while (delay := start - clock()) > _ROUNDING:  # noqa: ASYNC110 - sleeping until an instant
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if clock() < start:
                self._cancel(start, tokens)
            raise

    def usage(self) -> tuple[float, float]:
        """(requests, tokens) booked in the last 60 s window ending now (future bookings excluded)."""
        with self._lock:
            now = self._clock()
            requests = self._requests.spent_in_window(now) if self._requests is not None else 0.0
            tokens = self._tokens.spent_in_window(now) if self._tokens is not None else 0.0
            return requests, tokens
