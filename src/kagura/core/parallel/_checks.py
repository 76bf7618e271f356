"""Argument validation shared by the entry points: misuse fails early with a message saying what to do.

One helper per kind of argument, used everywhere that kind appears:

- a **count** (``max_concurrent``, ``max_attempts``): an ``int``, not a bool, at least a minimum;
- a **duration** in seconds (timeouts, retry delays): a finite number, ``>= 0`` or ``> 0``;
- a **rate** or capacity (requests/tokens per minute, burst): a finite number ``> 0``;
- an **amount** of tokens (a request's cost, a reconciliation): a finite number, ``>= 0`` unless signed.

Bools and non-numbers raise ``TypeError``; NaN, infinities and out-of-range values raise ``ValueError``
at once, so a bad setting never turns into a hang later.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Callable, Iterable, Sized
from typing import Any

__all__ = [
    "check_amount",
    "check_count",
    "check_func",
    "check_items",
    "check_max_concurrent",
    "check_optional_callable",
    "check_rate",
    "check_seconds",
    "known_length",
]


def _number(name: str, value: object, what: str) -> float:
    """``value`` as a float if it is a finite real number (not a bool); else TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {what} (a finite number), got {value!r}")
    return number


def check_count(name: str, value: object, minimum: int = 1, *, hint: str = "") -> int:
    """A count: an ``int`` (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{hint}, got {value}")
    return value


def check_max_concurrent(value: object, *, allow_none: bool = False) -> int | None:
    """``max_concurrent`` must be an int >= 1 (or None where "no limit" makes sense)."""
    if value is None and allow_none:
        return None
    return check_count("max_concurrent", value, hint=" (it is how many calls may run at once)")


def check_seconds(
    name: str, value: object, *, allow_zero: bool = True, allow_none: bool = False
) -> float | None:
    """A duration in seconds: finite, ``>= 0`` (or ``> 0`` without ``allow_zero``); None if allowed."""
    if value is None and allow_none:
        return None
    seconds = _number(name, value, "a number of seconds" + (" or None" if allow_none else ""))
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return seconds


def check_rate(name: str, value: object, *, allow_none: bool = True) -> float | None:
    """A rate or capacity (per minute, or a burst): finite and ``> 0``; None (no limit) if allowed."""
    if value is None and allow_none:
        return None
    rate = _number(name, value, "a positive number" + (" or None for no limit" if allow_none else ""))
    if rate <= 0:
        raise ValueError(
            f"{name} must be > 0{' (or None for no limit)' if allow_none else ''}, got {value!r}"
        )
    return rate


def check_amount(name: str, value: object, *, signed: bool = False) -> float:
    """An amount of tokens: finite, and ``>= 0`` unless ``signed`` (a charge or a refund)."""
    amount = _number(name, value, "a number of tokens")
    if amount < 0 and not signed:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return amount


def check_func(func: object) -> None:
    """``func`` must be a callable returning an awaitable."""
    if callable(func):
        return
    hint = ""
    if hasattr(func, "__await__") or hasattr(func, "cr_frame"):
        hint = "; pass the async function itself (`fetch`), not a coroutine (`fetch(x)`)"
    raise TypeError(f"func must be an async callable taking one item, got {type(func).__name__}{hint}")


def check_items(items: object) -> None:
    """``items`` must be an iterable or an async iterable."""
    if isinstance(items, Iterable | AsyncIterable):
        return
    raise TypeError(
        "items must be an iterable or async iterable (list, generator, async generator...), "
        f"got {type(items).__name__}"
    )


def check_optional_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a callable or None, got {type(value).__name__}")


def known_length(items: Iterable[Any] | AsyncIterable[Any]) -> int | None:
    """The number of items when it is known without consuming them."""
    if isinstance(items, Sized) and not isinstance(items, AsyncIterable):
        return len(items)
    return None


def check_cost_value(cost: Callable[[Any], Any], item: Any) -> int:
    """Call the caller's ``cost(item)`` and check it returned a token count."""
    tokens = cost(item)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise TypeError(f"cost(item) must return a token count (int >= 0), got {tokens!r}")
    return tokens
