"""Argument validation for every public entry point: misuse fails at once, with a message saying what to pass.

One helper per kind of argument, used wherever that kind appears (the scheduler, the LLM layer, memory,
loaders, jobs, the testing fakes):

- :func:`check_int` — a count or a size (``max_concurrent``, ``top_k``, ``chunk_size``): an ``int``;
- :func:`check_number` — a finite real number in a range (a temperature, dollars, a price);
- :func:`check_seconds` — a duration in seconds (timeouts, delays, TTLs): finite, ``>= 0`` or ``> 0``;
- :func:`check_rate` — a rate or capacity (requests/tokens per minute, a burst): finite, ``> 0``;
- :func:`check_amount` — an amount of tokens: finite, ``>= 0`` unless signed;
- :func:`check_probability` — a number from 0 to 1;
- :func:`check_bool`, :func:`check_choice`, :func:`check_path`, :func:`check_callable`.

The rules are the same everywhere: a value of the wrong type raises ``TypeError`` — and a ``bool`` is the
wrong type for a number (``True`` is not a count of 1); NaN, infinities and out-of-range values raise
``ValueError``. Every message starts with the argument's name (as the caller spells it, e.g.
``LLMConfig.timeout``) and says what is accepted, so a bad setting never turns into a hang later.

Imports nothing from kagura: every layer may use it.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import AsyncIterable, Callable, Collection, Iterable, Sized
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

__all__ = [
    "check_amount",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_cost_value",
    "check_func",
    "check_int",
    "check_items",
    "check_max_concurrent",
    "check_number",
    "check_path",
    "check_probability",
    "check_rate",
    "check_seconds",
    "known_length",
]

_T = TypeVar("_T")


def _got(value: object) -> str:
    return f"got {value!r}" if isinstance(value, int | float | str | None) else f"got {type(value).__name__}"


def _real(name: str, value: object, wanted: str) -> float:
    """``value`` as a float if it is a finite real number (not a bool); else TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be {wanted}, {_got(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {wanted} (a finite number), got {value!r}")
    return number


@overload
def check_int(
    name: str,
    value: object,
    minimum: int | None = 1,
    *,
    maximum: int | None = None,
    optional: Literal[False] = False,
    hint: str = "",
) -> int: ...
@overload
def check_int(
    name: str,
    value: object,
    minimum: int | None = 1,
    *,
    maximum: int | None = None,
    optional: bool,
    hint: str = "",
) -> int | None: ...
def check_int(
    name: str,
    value: object,
    minimum: int | None = 1,
    *,
    maximum: int | None = None,
    optional: bool = False,
    hint: str = "",
) -> int | None:
    """A count or a size: an integer (not a bool; numpy's too) from ``minimum`` to ``maximum``.

    None passes when ``optional``; ``hint`` (``" (1 means no retry)"``) follows the wanted range.
    """
    if value is None and optional:
        return None
    bounds = " and ".join(
        b
        for b in (
            f">= {minimum}" if minimum is not None else "",
            f"<= {maximum}" if maximum is not None else "",
        )
        if b
    )
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        wanted = f"an int{' ' + bounds if bounds else ''}{' or None' if optional else ''}{hint}"
        raise TypeError(f"{name} must be {wanted}, {_got(value)}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be {bounds}{hint}, got {value!r}")
    return number


def check_max_concurrent(value: object, *, allow_none: bool = False) -> int | None:
    """``max_concurrent``: an int >= 1 (or None where "no limit" makes sense)."""
    return check_int(
        "max_concurrent", value, optional=allow_none, hint=" (it is how many calls may run at once)"
    )


@overload
def check_number(
    name: str,
    value: object,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    optional: Literal[False] = False,
    unit: str = "",
    hint: str = "",
) -> float: ...
@overload
def check_number(
    name: str,
    value: object,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    optional: bool,
    unit: str = "",
    hint: str = "",
) -> float | None: ...
def check_number(
    name: str,
    value: object,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    optional: bool = False,
    unit: str = "",
    hint: str = "",
) -> float | None:
    """A finite real number (not a bool) ``> above`` / ``>= at_least`` / ``<= at_most``; None if optional.

    The number comes back unchanged (an int stays an int).
    """
    if value is None and optional:
        return None
    bounds = [f"> {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else ""]
    bounds.append(f"<= {at_most:g}" if at_most is not None else "")
    bound = " and ".join(b for b in bounds if b)
    wanted = f"a number{' ' + bound if bound else ''}{unit}{' or None' if optional else ''}{hint}"
    number = _real(name, value, wanted)
    if (
        (above is not None and number <= above)
        or (at_least is not None and number < at_least)
        or (at_most is not None and number > at_most)
    ):
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value  # type: ignore[return-value]  # a checked int | float


def check_seconds(
    name: str, value: object, *, allow_zero: bool = True, allow_none: bool = False
) -> float | None:
    """A duration in seconds: finite, ``>= 0`` (or ``> 0`` without ``allow_zero``); None if allowed."""
    if value is None and allow_none:
        return None
    seconds = _real(name, value, "a number of seconds" + (" or None" if allow_none else ""))
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return seconds


def check_rate(name: str, value: object, *, allow_none: bool = True) -> float | None:
    """A rate or capacity (per minute, or a burst): finite and ``> 0``; None (no limit) if allowed."""
    if value is None and allow_none:
        return None
    rate = _real(name, value, "a positive number" + (" or None for no limit" if allow_none else ""))
    if rate <= 0:
        raise ValueError(
            f"{name} must be > 0{' (or None for no limit)' if allow_none else ''}, got {value!r}"
        )
    return rate


def check_amount(name: str, value: object, *, signed: bool = False) -> float:
    """An amount of tokens: finite, and ``>= 0`` unless ``signed`` (a charge or a refund)."""
    amount = _real(name, value, "a number of tokens")
    if amount < 0 and not signed:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return amount


def check_probability(name: str, value: object) -> float:
    """A probability: a finite number from 0 to 1."""
    return float(check_number(name, value, at_least=0, at_most=1))


def check_bool(name: str, value: object) -> bool:
    """``True`` or ``False`` (not 0/1, not None)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, {_got(value)}")
    return value


def check_choice(name: str, value: _T, choices: Collection[_T]) -> _T:
    """One of ``choices``; the message lists them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in sorted(choices, key=str))
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_path(name: str, value: object) -> Path:
    """A filesystem path: a ``str`` or ``os.PathLike`` (not bytes), returned as a :class:`Path`."""
    if isinstance(value, str | os.PathLike) and not isinstance(value, bytes):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return Path(path)
    if value == "":
        raise ValueError(f"{name} must be a non-empty path")
    raise TypeError(f"{name} must be a path (str or os.PathLike), {_got(value)}")


def check_callable(name: str, value: object, *, optional: bool = True) -> None:
    """A callable (or None when ``optional``)."""
    if (value is None and optional) or callable(value):
        return
    raise TypeError(f"{name} must be a callable{' or None' if optional else ''}, {_got(value)}")


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
