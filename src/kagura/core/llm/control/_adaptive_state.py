"""The learned state of adaptive rate control, behind a tiny store interface.

Everything the controller learns about one endpoint fits in :class:`AdaptiveState` — a handful of numbers
— and it reads and writes them only through an :class:`AdaptiveStore`:

- ``get() -> AdaptiveState``: the current values;
- ``update(change) -> AdaptiveState``: apply ``change(old) -> new`` atomically and return the new state.

:class:`LocalAdaptiveState` keeps them in memory behind a lock (one process). A Redis-backed store shares
them between processes by implementing the same two methods: one hash per endpoint holding these fields,
``update`` as an optimistic ``WATCH``/``MULTI`` transaction (or a Lua script) retried on conflict. The
controller never caches state between calls, so every process sees the others' decreases at once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["AdaptiveState", "AdaptiveStore", "LocalAdaptiveState"]


@dataclass(frozen=True, slots=True)
class AdaptiveState:
    """What the controller knows about one endpoint.

    - ``requests_per_minute`` / ``tokens_per_minute``: the rate it currently allows (None: no rate
      learned yet, only the concurrency limit applies).
    - ``concurrency``: the current concurrency limit (a float: additive increase adds fractions).
    - ``slow_start``: True until the first sign of overload; the concurrency limit grows by 0.5 per
      success (x1.5 every round trip, like TCP's slow start) instead of by ``1/limit``.
    - ``header_requests`` / ``header_tokens``: the per-minute quota the provider last announced.
    - ``last_decrease``: clock time of the last multiplicative decrease (one per cool-down period).
    - ``last_increase``: clock time of the last additive increase of the rate.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    concurrency: float = 8.0
    slow_start: bool = True
    header_requests: float | None = None
    header_tokens: float | None = None
    last_decrease: float = float("-inf")
    last_increase: float = float("-inf")

    def replace(self, **changes: object) -> AdaptiveState:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@runtime_checkable
class AdaptiveStore(Protocol):
    """Where an :class:`AdaptiveState` lives: in this process, or shared (Redis)."""

    def get(self) -> AdaptiveState: ...

    def update(self, change: Callable[[AdaptiveState], AdaptiveState]) -> AdaptiveState: ...


class LocalAdaptiveState:
    """An :class:`AdaptiveStore` in memory, safe across threads."""

    __slots__ = ("_lock", "_state")

    def __init__(self, initial: AdaptiveState | None = None) -> None:
        self._lock = threading.Lock()
        self._state = initial or AdaptiveState()

    def get(self) -> AdaptiveState:
        return self._state

    def update(self, change: Callable[[AdaptiveState], AdaptiveState]) -> AdaptiveState:
        with self._lock:
            self._state = change(self._state)
            return self._state
