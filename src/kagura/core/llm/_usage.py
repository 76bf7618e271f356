"""Summing token usage and dollars per run: ``with track_usage() as usage: ...; usage.total``.

A tracker sees every call made in its context, including calls in tasks started inside it (contextvars
are copied into new tasks). Trackers nest: an inner call counts in every enclosing tracker.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kagura.core.llm._types import LLMResponse, Usage

__all__ = ["UsageTracker", "record_usage", "track_usage"]

_active: contextvars.ContextVar[tuple[UsageTracker, ...]] = contextvars.ContextVar("kagura_usage", default=())


@dataclass
class UsageTracker:
    """Totals of the calls made while it was active: tokens, dollars, calls, cache hits, per model.

    ``by_model`` is keyed ``"provider:model"``; each :class:`Usage` there carries its ``cost_usd``, which is
    ``None`` (unknown) once any call of that model had no price. :attr:`cost_usd` is the total in dollars
    (``None`` when some model's cost is unknown); :attr:`known_cost_usd` sums the models whose cost is known.
    """

    total: Usage = field(default_factory=Usage)
    calls: int = 0
    cached_calls: int = 0
    by_model: dict[str, Usage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, response: LLMResponse) -> None:
        """Count one response (a cache hit counts as a call without tokens or cost)."""
        with self._lock:
            self.calls += 1
            if response.cached:
                self.cached_calls += 1
                return
            self.total = self.total + response.usage
            key = f"{response.provider}:{response.model}"
            self.by_model[key] = self.by_model.get(key, Usage()) + response.usage

    @property
    def cost_usd(self) -> float | None:
        """Dollars spent by every counted call; ``None`` when any model's cost is unknown."""
        return self.total.cost_usd

    @property
    def cost_by_model(self) -> dict[str, float | None]:
        """Dollars per ``"provider:model"`` (``None``: that model has no price)."""
        with self._lock:
            return {key: usage.cost_usd for key, usage in self.by_model.items()}

    @property
    def known_cost_usd(self) -> float:
        """Dollars spent by the models whose cost is known (a lower bound when some are unknown)."""
        return sum(cost for cost in self.cost_by_model.values() if cost is not None)

    @property
    def unpriced_models(self) -> list[str]:
        """The ``"provider:model"`` keys whose cost is unknown (no price in the client's table)."""
        return sorted(key for key, cost in self.cost_by_model.items() if cost is None)


@contextmanager
def track_usage() -> Iterator[UsageTracker]:
    """Sum the usage of every LLM call made inside the ``with`` block."""
    tracker = UsageTracker()
    token = _active.set((*_active.get(), tracker))
    try:
        yield tracker
    finally:
        _active.reset(token)


def record_usage(response: LLMResponse) -> None:
    """Add a response to every tracker active in the current context."""
    for tracker in _active.get():
        tracker.add(response)
