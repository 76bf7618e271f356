"""A budget shared through Redis, and what happens when Redis goes away.

:class:`RedisBudget` is what a ``RateLimiter(..., redis=url, key=...)`` delegates admissions to. Each
admission is one script call (:class:`._shared_gcra.SharedGCRA`). Failure semantics:

- **Unreachable at start** (the first admission never reached Redis):
  :class:`~kagura.errors.ConfigurationError` naming the URL (password hidden). A typo in a URL fails
  loudly instead of running unthrottled.
- **Lost mid-run**, ``on_redis_error="degrade"`` (default): admissions continue on a local limiter at a
  *conservative share* of the budget: the budget divided by the number of processes that were sharing it
  (Redis told us at every admission). N processes that all lose Redis together therefore still spend at
  most the whole budget between them, never N times it. The local share starts after the last start
  Redis had booked for this process (those calls still go at their times), and when Redis answers again
  the local backlog is charged to the shared budget first, so the two never overlap. Redis is retried
  with exponential backoff (0.5 s doubling to 4 s, advanced once per failed probe: admissions that were
  already in flight and fail together count once), so every process probes again within 4 s of Redis
  coming back. The first admission that reaches it again charges this process's local backlog to the
  shared budget (strictly: no burst credit, a restarted Redis forgot everything) and starts the
  **hand-over** (:data:`HANDOVER` seconds, marked in Redis): until it ends, every process books in Redis
  *and* keeps to its local share, since processes still in their backoff are spending their share
  locally. When it ends, every process has returned and charged its backlog, so Redis knows every
  booking again.
- ``on_redis_error="fail"``: admissions raise :class:`~kagura.errors.BudgetUnavailableError` while Redis is
  away (fail closed), with the same backoff between attempts to reach it.

The asyncio Redis client is bound to the event loop it first ran on, so the budget keeps one client per
loop: a limiter shared by several threads, each with its own loop, works as the local one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Literal, Protocol

from kagura._cancel import cancels, keeping_cancel, raise_if_cancelled_since
from kagura._checks import check_choice
from kagura._redact import redact_url
from kagura.core.parallel.budgets._shared_gcra import (
    MEMBER_TTL,
    Reservation,
    SharedGCRA,
    check_redis_url,
    connect_redis,
)
from kagura.errors import BudgetUnavailableError, ConfigurationError

__all__ = ["LocalShare", "RedisBudget"]

log = logging.getLogger("kagura.budget")
OnRedisError = Literal["degrade", "fail"]
_BACKOFF_START, _BACKOFF_CAP = 0.5, 4.0
HANDOVER = 2 * _BACKOFF_CAP + 1.0  # the default hand-over: every process has probed again by its end
Spec = tuple[float, float, float]  # (seconds per unit or 0, capacity, units)


class LocalShare(Protocol):
    """The local limiter used while Redis is away (built for a share of the budget)."""

    def reserve(self, tokens: float = 0) -> float: ...

    def adjust(self, tokens: float) -> None: ...

    def usage(self) -> tuple[float, float]: ...


class RedisBudget:
    """Shared admissions for one ``key`` on the Redis at ``url``, with a local fallback share."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        make_local: Callable[[float, float], LocalShare],
        on_redis_error: OnRedisError = "degrade",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_choice("on_redis_error", on_redis_error, ("degrade", "fail"))
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string naming the shared budget, got {key!r}")
        check_redis_url(url)  # the URL and the extra are checked now, not mid-run
        self.url = url
        self.key = key
        self.on_redis_error: OnRedisError = on_redis_error
        self._make_local = make_local
        self._clock = clock
        self._lock = threading.Lock()
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedGCRA] = (
            weakref.WeakKeyDictionary()
        )
        self._reached = False  # some admission reached Redis at least once
        self.members = 1  # processes sharing the key, as Redis last said
        self._members_at = float("-inf")
        self.degraded = False
        self._retry_at = float("-inf")
        self._backoff = _BACKOFF_START
        self.backoff_cap = _BACKOFF_CAP  # seconds between probes at most while Redis is away
        self.handover = HANDOVER  # seconds after an outage in which every process keeps to its share
        self._local: LocalShare | None = None
        self._local_share = 0.0
        self._booked_until = float("-inf")  # the latest start this process was given by Redis
        self._pending: set[asyncio.Task[None]] = set()

    def _shared(self) -> SharedGCRA:
        loop = asyncio.get_running_loop()
        with self._lock:
            shared = self._per_loop.get(loop)
            if shared is None:
                shared = self._per_loop[loop] = SharedGCRA(connect_redis(self.url), self.key)
            return shared

    async def admit(self, req: Spec, tok: Spec) -> tuple[float, Reservation | None]:
        """Book one admission; returns the seconds to wait (on this process's clock) before starting, and
        the reservation in Redis (None: booked on the local share) for :meth:`give_back_soon`."""
        if not self._reached:
            await self.ensure_reachable()  # first use: a bad URL or password is a ConfigurationError
        if self._clock() >= self._retry_at:
            before = cancels()
            try:
                shared = self._shared()  # a URL the client cannot parse raises ValueError: not reached
                if self.degraded and self._local is not None:
                    await self._hand_back(shared, req, tok)
                reservation = await shared.reserve(req, tok)
            except Exception as exc:  # redis's ConnectionError, TimeoutError, ... : the server is away
                raise_if_cancelled_since(before, exc)  # a cancelled read is no outage: never fall back
                if not _is_redis_error(exc):
                    raise
                await self._drop_connections()
                return self._on_failure(exc, req, tok), None
            if cancels() > before:  # redis-py lost the cancellation (see kagura._cancel)
                self.give_back_soon(reservation)
                raise asyncio.CancelledError()
            self._on_success(reservation.members)
            wait = reservation.wait
            if reservation.handover > 0:  # after an outage some processes may still be on local shares
                wait = max(wait, self._share_wait(tok))
            self._booked_until = max(self._booked_until, self._clock() + wait)
            return wait, reservation
        return self._fallback(req, tok, None), None

    @property
    def reached(self) -> bool:
        """True once an admission or :meth:`ensure_reachable` got an answer from Redis."""
        return self._reached

    async def ensure_reachable(self) -> None:
        """Check once that Redis answers at this URL (with these credentials); a
        :class:`~kagura.errors.ConfigurationError` naming the URL (password hidden) if not. For a shared
        budget with no rate yet (nothing to book), so a bad URL fails at first use, not never."""
        if self._reached:
            return
        try:
            await keeping_cancel(self._shared().ping())
        except Exception as exc:
            if not (_is_redis_error(exc) or isinstance(exc, ValueError)):
                raise
            await self._drop_connections()
            raise ConfigurationError(
                f"cannot reach Redis at {redact_url(self.url)} for the shared budget {self.key!r}: {exc}"
            ) from None
        self._reached = True

    async def adjust(self, req: Spec, tok: Spec) -> None:
        """Charge or refund units (``req``/``tok``: seconds per unit or 0, capacity, signed units).

        Best effort: while Redis is away the adjustment goes to the local share instead."""
        if self.degraded:
            local = self._local
            if local is not None and tok[0] > 0 and tok[2]:
                local.adjust(tok[2])  # the request's own tokens, as reserve() books them
            return
        try:
            await keeping_cancel(self._shared().adjust((req[2], req[0], req[1]), (tok[2], tok[0], tok[1])))
        except Exception as exc:
            if not _is_redis_error(exc):
                raise
            log.warning("kagura budget %r: could not adjust on Redis (%s)", self.key, exc)

    def adjust_soon(self, req: Spec, tok: Spec) -> None:
        """:meth:`adjust` in the background on the running loop (for synchronous callers and cancels)."""
        task = asyncio.get_running_loop().create_task(self.adjust(req, tok))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def give_back_soon(self, reservation: Reservation) -> None:
        """Give a booking that will not be used back to the shared budget, in the background (it runs for
        a cancelled caller); best effort, see :meth:`._shared_gcra.SharedGCRA.give_back`."""
        task = asyncio.get_running_loop().create_task(self._give_back(reservation))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _give_back(self, reservation: Reservation) -> None:
        try:
            await keeping_cancel(self._shared().give_back(reservation))
        except Exception as exc:
            if not _is_redis_error(exc):
                raise
            log.warning("kagura budget %r: could not give a booking back on Redis (%s)", self.key, exc)

    async def _hand_back(self, shared: SharedGCRA, req: Spec, tok: Spec) -> None:
        """Back from an outage: charge what the local share booked and has not refilled yet to the shared
        budget (a restarted Redis forgot everything), so that backlog and new shared admissions never
        overlap."""
        assert self._local is not None
        requests, tokens = self._local.usage()
        await shared.adjust((requests, req[0], req[1]), (tokens, tok[0], tok[1]), strict=True)
        await shared.start_handover(self.handover)
        self._local = None

    async def _drop_connections(self) -> None:
        """Forget every pooled connection: after one failed, the others to a restarted server are stale
        too, and each would fail once more (a flapping outage) if reused."""
        shared = self._per_loop.get(asyncio.get_running_loop())
        if shared is not None:
            with contextlib.suppress(Exception):
                await shared.client.connection_pool.disconnect()

    def _on_success(self, members: int) -> None:
        if not self.degraded and self._local is not None:
            self._local = None  # a hand-over's local share: its bookings are in Redis too, nothing to charge
        if self.degraded:
            log.warning("kagura budget %r: Redis is back; using the shared budget again", self.key)
        self._reached = True
        self.degraded = False
        now = self._clock()
        # A restarted Redis counts members afresh: keep the larger count seen within the member window,
        # so a later outage's fair share is not computed from a half-rebuilt count.
        if members >= self.members or now - self._members_at > MEMBER_TTL:
            self.members, self._members_at = max(1, members), now
        self._backoff = _BACKOFF_START

    def _on_failure(self, exc: BaseException, req: Spec, tok: Spec) -> float:
        if not self._reached:
            raise ConfigurationError(
                f"cannot reach Redis at {redact_url(self.url)} for the shared budget {self.key!r}: {exc}"
            ) from None
        now = self._clock()
        if now >= self._retry_at:  # one failed probe: concurrent admissions that failed with it
            self._retry_at = now + self._backoff  # (already in flight) do not advance the backoff again
            self._backoff = min(self.backoff_cap, self._backoff * 2)
        if not self.degraded:
            then = (
                f"continuing on a local share of 1/{self.members} of the budget"
                if self.on_redis_error == "degrade"
                else "failing admissions until it is back"
            )
            log.warning("kagura budget %r: lost Redis (%s); %s", self.key, exc, then)
        self.degraded = True
        return self._fallback(req, tok, exc)

    def _fallback(self, req: Spec, tok: Spec, exc: BaseException | None) -> float:
        if self.on_redis_error == "fail":
            raise BudgetUnavailableError(
                f"the shared budget {self.key!r} at {redact_url(self.url)} is unreachable"
                + (f": {exc}" if exc is not None else "; retrying Redis after a backoff")
            )
        return self._share_wait(tok)

    def _share_wait(self, tok: Spec) -> float:
        """Book one admission on this process's local share of the budget; the seconds to wait."""
        share = 1.0 / self.members
        with self._lock:
            if self._local is None or self._local_share != share:
                # never before what Redis already booked for us: those calls still start on time
                self._local = self._make_local(share, self._booked_until)
                self._local_share = share
            local = self._local
        return max(0.0, local.reserve(tok[2]) - self._clock())

    async def close(self) -> None:
        """Send the adjustments and give-backs still pending on this loop (the bookings of calls cancelled
        just before, as on Ctrl-C: else the shared budget keeps them), then close its Redis connections."""
        loop = asyncio.get_running_loop()
        pending = [task for task in self._pending if task.get_loop() is loop]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        with self._lock:
            shared = self._per_loop.pop(loop, None)
        if shared is not None:
            await shared.close()


def _is_redis_error(exc: BaseException) -> bool:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - the extra is installed whenever this runs
        return False
    return isinstance(exc, RedisError | OSError | TimeoutError)
