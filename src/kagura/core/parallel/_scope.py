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

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kagura.core.parallel._limits import Limiter

__all__ = ["Scope", "admit_in_scope", "limiters_in_scope", "scope"]


class Scope:
    """The limiters one item runs under, and whether the scheduler's admission is still unused."""

    __slots__ = ("limiters", "ticket", "tokens")

    def __init__(self, limiters: tuple[Limiter, ...], tokens: float = 0) -> None:
        self.limiters = limiters
        self.ticket = False
        self.tokens = tokens  # what the scheduler's admission booked for


_SCOPE: ContextVar[Scope | None] = ContextVar("kagura_limiters_in_scope", default=None)


def limiters_in_scope() -> tuple[Limiter, ...]:
    """The limiters every attempt made here must pass (those of the runs whose item this code runs in)."""
    current = _SCOPE.get()
    return current.limiters if current is not None else ()


@contextlib.contextmanager
def scope(limiters: tuple[Limiter, ...], *, admitted: bool, tokens: float = 0) -> Iterator[Scope]:
    """Run the body with ``limiters`` in scope on top of the enclosing ones; ``admitted``: the caller has
    just admitted one attempt through all of them (the body's first attempt uses that ticket)."""
    enclosing = limiters_in_scope()
    combined = enclosing + tuple(lim for lim in limiters if lim not in enclosing)
    current = Scope(combined, tokens)
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

    The scheduler's unused ticket counts as this admission for all of them; ``fresh``: the caller admits
    right before its send, so the ticket is given back (limiters with ``give_back``) and every limiter
    books anew. ``own``: limiters the caller
    admits through next anyway, or wrappers of them with a ``limiter`` attribute (skipped here, so the
    attempt is not booked twice in one budget); the caller skips those of ``own`` that were returned.
    """
    current = _SCOPE.get()
    if current is None:
        return ()
    ticketed: tuple[object, ...] = ()
    if current.ticket:
        current.ticket = False
        if not fresh:
            return current.limiters
        # the caller admits right before its send (after waiting for its own slot): return the
        # scheduler's earlier admission where the limiter can take it back, book anew below
        kept = []
        for limiter in current.limiters:
            give_back = getattr(limiter, "give_back", None)
            if callable(give_back):
                give_back(current.tokens)
            else:
                kept.append(limiter)
        ticketed = tuple(kept)
    admitted: list[object] = list(ticketed)
    for limiter in current.limiters:
        if any(limiter is t for t in ticketed):
            continue
        if not any(limiter is o or getattr(o, "limiter", None) is limiter for o in own):
            await limiter.acquire(tokens)  # type: ignore[arg-type]
            admitted.append(limiter)
    return tuple(admitted)
