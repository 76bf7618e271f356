"""What the adaptive controllers learned, shared by every process through Redis.

:class:`RedisAdaptiveState` is an :class:`~kagura.core.llm.AdaptiveStore` whose shared part
(the allowed rates, the concurrency limit, slow start, the quota the provider announced) lives in the hash
``kagura:budget:<key>:adaptive`` beside the shared budget of the same key, so eight workers converge
together instead of each probing the provider on its own.

The controller calls ``get``/``update`` synchronously on every outcome, so the store never waits for the
network there: it keeps the state in memory and syncs in the background on the running loop. An update is
applied locally at once and pushed (a whole-state write with a version number); a pull at most every
``refresh`` seconds adopts the newest state another process pushed. Two processes that update at the same
moment: the last write wins, and both converge on it at the next pull. The times of the last increase and
decrease stay per process (they are readings of each process's own clock).

If Redis is away, the store keeps working on its local copy (the shared budget itself has its own failure
semantics, see :mod:`kagura.core.parallel.budgets._redis_budget`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kagura._cancel import keeping_cancel
from kagura.core.llm.control._adaptive_state import AdaptiveState
from kagura.core.parallel import SHARED_BUDGET_PREFIX, connect_redis

__all__ = ["SHARED_FIELDS", "RedisAdaptiveState"]

log = logging.getLogger("kagura.budget")
SHARED_FIELDS = (
    "requests_per_minute",
    "tokens_per_minute",
    "concurrency",
    "slow_start",
    "header_requests",
    "header_tokens",
)


def _encode(state: AdaptiveState) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in SHARED_FIELDS:
        value = getattr(state, name)
        out[name] = "" if value is None else str(int(value) if isinstance(value, bool) else value)
    return out


def _decode(fields: dict[str, str], base: AdaptiveState) -> AdaptiveState:
    changes: dict[str, object] = {}
    for name in SHARED_FIELDS:
        raw = fields.get(name)
        if raw is None:
            continue
        if name == "slow_start":
            changes[name] = raw == "1"
        elif name == "concurrency":
            changes[name] = float(raw) if raw else base.concurrency
        else:
            changes[name] = float(raw) if raw else None
    return base.replace(**changes)


class RedisAdaptiveState:
    """An adaptive store shared through Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        key: str,
        initial: AdaptiveState | None = None,
        *,
        refresh: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.key = key
        self.redis_key = SHARED_BUDGET_PREFIX + key + ":adaptive"
        self.refresh = refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._state = initial or AdaptiveState()
        self._version = 0  # the newest shared version this copy has seen or written
        self._pulled_at = float("-inf")
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._pulling = False

    # -- the AdaptiveStore interface -------------------------------------------------------------------
    def get(self) -> AdaptiveState:
        self._maybe_pull()
        return self._state

    def update(self, change: Callable[[AdaptiveState], AdaptiveState]) -> AdaptiveState:
        with self._lock:
            self._state = change(self._state)
            state = self._state
        self._spawn(self._push(state))
        return state

    # -- background sync -------------------------------------------------------------------------------
    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = connect_redis(self.url)
        return client

    def _spawn(self, coro: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): stay local this time
            coro.close()
            return
        task = loop.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _maybe_pull(self) -> None:
        now = self._clock()
        if self._pulling or now - self._pulled_at < self.refresh:
            return
        self._pulled_at = now
        self._pulling = True
        self._spawn(self._pull())

    async def _pull(self) -> None:
        try:
            fields = await keeping_cancel(self._client().hgetall(self.redis_key))
        except Exception as exc:
            log.debug("kagura adaptive %r: pull failed (%s)", self.key, exc)
            return
        finally:
            self._pulling = False
        version = int(fields.get("version", 0) or 0)
        with self._lock:
            if version > self._version:
                self._version = version
                self._state = _decode(fields, self._state)

    async def _push(self, state: AdaptiveState) -> None:
        try:
            async with self._client().pipeline(transaction=True) as pipe:  # one round trip, atomic
                pipe.hincrby(self.redis_key, "version", 1)
                pipe.hset(self.redis_key, mapping=_encode(state))
                pipe.expire(self.redis_key, 24 * 3600)
                version = int((await keeping_cancel(pipe.execute()))[0])
        except Exception as exc:
            log.debug("kagura adaptive %r: push failed (%s)", self.key, exc)
            return
        with self._lock:
            self._version = max(self._version, version)

    async def sync(self) -> AdaptiveState:
        """Wait for pushes in flight, then pull the newest shared state now; returns it."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        self._pulling = True
        await self._pull()
        return self._state

    async def aclose(self) -> None:
        """Wait for pending syncs and close this loop's connection."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
