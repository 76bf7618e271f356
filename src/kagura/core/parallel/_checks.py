"""Argument validation shared by the entry points: misuse fails early with a message saying what to do."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sized
from typing import Any

__all__ = ["check_func", "check_items", "check_max_concurrent", "check_optional_callable", "known_length"]


def check_max_concurrent(value: object, *, allow_none: bool = False) -> int | None:
    """``max_concurrent`` must be an int >= 1 (or None where "no limit" makes sense)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_concurrent must be an int >= 1, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"max_concurrent must be >= 1 (it is how many calls may run at once), got {value}")
    return value


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
