"""Limiters in scope: a run's budgets reach every attempt made inside its items, retries included.

``parallel_map(func, items, limiters=[budget])`` admits each attempt of an item through ``budget``. When
``func`` makes calls that have an attempt loop of their own (an LLM client retrying a 429, a
``call_with_retry`` inside the item), those inner attempts must pass the same budget too, or every retry
escapes it (and a budget shared through Redis by several processes is overspent by all their retries).

So while an item runs, the run's limiters are *in scope* (a :mod:`contextvars` variable, inherited by the
tasks the item starts), and every attempt loop admits each attempt through every limiter in scope
(:func:`admit_in_scope`). The admission the scheduler already made for the item's attempt is a *ticket*:
the first inner attempt uses it instead of booking a second time; every further attempt books anew.
Scopes nest: an item of an inner run sees the outer run's limiters and its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kagura.core.parallel.budgets._limits import Limiter

__all__ = ["FRESH", "Scope", "admit_in_scope", "limiters_in_scope", "scope"]

FRESH = 0.02  # seconds: a scheduler's admission older than this when the call is sent is booked anew


class Scope:
    """The limiters one item runs under, and whether the scheduler's admission is still unused."""

    __slots__ = ("admitted_at", "limiters", "ticket")

    def __init__(self, limiters: tuple[Limiter, ...]) -> None:
        self.limiters = limiters
        self.ticket = False
        self.admitted_at = _now()  # when the scheduler's admission let the item start


def _now() -> float:
    return asyncio.get_running_loop().time()  # the loop's clock (a virtual one in tests)


_SCOPE: ContextVar[Scope | None] = ContextVar("kagura_limiters_in_scope", default=None)


def limiters_in_scope() -> tuple[Limiter, ...]:
    """The limiters every attempt made here must pass (those of the runs whose item this code runs in)."""
    current = _SCOPE.get()
    return current.limiters if current is not None else ()


@contextlib.contextmanager
def scope(limiters: tuple[Limiter, ...], *, admitted: bool) -> Iterator[Scope]:
    """Run the body with ``limiters`` in scope on top of the enclosing ones; ``admitted``: the caller has
    just admitted one attempt through all of them (the body's first attempt uses that ticket)."""
    enclosing = limiters_in_scope()
    combined = enclosing + tuple(lim for lim in limiters if lim not in enclosing)
    current = Scope(combined)
    current.ticket = admitted
    token = _SCOPE.set(current)
    try:
        yield current
    finally:
        _SCOPE.reset(token)


async def admit_in_scope(
    tokens: float = 0, *, own: tuple[object, ...] = (), fresh: bool = False
) -> tuple[object, ...]:
    """Admit one attempt through every limiter in scope; returns the limiters that admitted it.

    The scheduler's unused ticket counts as this admission for all of them; with ``fresh`` (the caller
    admits right before its send) only while it is fresh (:data:`FRESH`), else every limiter books anew.
    ``own``: limiters the caller
    admits through next anyway, or wrappers of them with a ``limiter`` attribute (skipped here, so the
    attempt is not booked twice in one budget); the caller skips those of ``own`` that were returned.
    """
    current = _SCOPE.get()
    if current is None:
        return ()
    if current.ticket:
        current.ticket = False
        if not fresh or _now() - current.admitted_at <= FRESH:
            return current.limiters
        # the caller waited (for its concurrency slot) since the scheduler admitted the item: that start
        # slot has passed unused, and sending now on it would bunch with the calls booked since. Book
        # anew (the passed slot cannot be given back: refunding it would double-book a later one).
    admitted: list[object] = []
    for limiter in current.limiters:
        if not any(limiter is o or getattr(o, "limiter", None) is limiter for o in own):
            await limiter.acquire(tokens)  # type: ignore[arg-type]
            admitted.append(limiter)
    return tuple(admitted)
