"""Blocking wrappers for callers without an event loop. The async functions are the implementation."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from kagura.core.parallel._api import parallel_map, parallel_map_outcomes, parallel_map_unordered
from kagura.core.parallel._outcome import Outcome
from kagura.errors import UsageError

__all__ = ["parallel_map_outcomes_sync", "parallel_map_sync", "parallel_map_unordered_sync", "run_sync"]

T = TypeVar("T")
R = TypeVar("R")


def run_sync(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion on a fresh event loop and return its result.

    For scripts and notebooks-without-a-loop. Inside a running event loop (an ``async def``, Jupyter,
    a web handler) it raises :class:`~kagura.errors.UsageError` (a ``RuntimeError``): there, ``await``
    the coroutine instead.
    """
    if not inspect.isawaitable(awaitable):
        raise TypeError(
            f"run_sync takes a coroutine or other awaitable, got {type(awaitable).__name__}; "
            "call the async function first: run_sync(fetch(x))"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # it will never run: avoid the "never awaited" warning
        raise UsageError(
            "run_sync() and the *_sync wrappers cannot be called from a running event loop "
            "(you are inside async code): `await` the async function instead, e.g. "
            "`await parallel_map(...)` rather than `parallel_map_sync(...)`"
        )
    return asyncio.run(_as_coroutine(awaitable))


def _as_coroutine(awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
    if inspect.iscoroutine(awaitable):
        return awaitable

    async def wrapper() -> T:
        return await awaitable

    return wrapper()


def parallel_map_sync(
    func: Callable[[T], Awaitable[R]], items: Iterable[T], max_concurrent: int = 5, **options: Any
) -> list[R]:
    """Blocking :func:`parallel_map` (same arguments); raises UsageError inside a running loop."""
    return run_sync(parallel_map(func, items, max_concurrent, **options))


def parallel_map_unordered_sync(
    func: Callable[[T], Awaitable[R]], items: Iterable[T], max_concurrent: int = 5, **options: Any
) -> list[R]:
    """Blocking :func:`parallel_map_unordered` (same arguments)."""
    return run_sync(parallel_map_unordered(func, items, max_concurrent, **options))


def parallel_map_outcomes_sync(
    func: Callable[[T], Awaitable[R]], items: Iterable[T], max_concurrent: int = 5, **options: Any
) -> list[Outcome[R]]:
    """Blocking :func:`parallel_map_outcomes` (same arguments)."""
    return run_sync(parallel_map_outcomes(func, items, max_concurrent, **options))
