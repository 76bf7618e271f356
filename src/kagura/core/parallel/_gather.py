"""``parallel_gather``: like :func:`asyncio.gather`, but bounded and truly fail-fast."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from typing import Any

from kagura._checks import check_max_concurrent
from kagura.core.parallel._pool import run_pool

__all__ = ["parallel_gather"]


async def parallel_gather(
    *awaitables: Awaitable[Any],
    return_exceptions: bool = False,
    max_concurrent: int | None = None,
) -> list[Any]:
    """Await every awaitable, at most ``max_concurrent`` at once (default: all); results in input order.

    Unlike :func:`asyncio.gather`, a failure (without ``return_exceptions``) cancels the awaitables still
    running and never starts the rest (coroutines not started are closed, futures cancelled). As with
    :func:`asyncio.gather`, an awaitable that raises ``CancelledError`` while the caller is not cancelled
    has failed: the error is raised, or put in place with ``return_exceptions``.
    """
    try:
        limit = check_max_concurrent(max_concurrent, allow_none=True)
        for position, aw in enumerate(awaitables):
            if not inspect.isawaitable(aw):
                raise TypeError(
                    f"parallel_gather takes awaitables (coroutines, tasks, futures); argument {position} is "
                    f"{type(aw).__name__}. To call a function on many items, use parallel_map(func, items)."
                )
    except (TypeError, ValueError):
        _discard(awaitables)
        raise
    if not awaitables:
        return []
    workers = len(awaitables) if limit is None else min(limit, len(awaitables))
    results: list[Any] = [None] * len(awaitables)
    source = iter(awaitables)
    try:
        await run_pool(
            source,
            workers,
            func=_itself,
            results=results,
            return_exceptions=return_exceptions,
            dropped=_discard_one,
        )
    except BaseException:
        _discard(source)  # never started: do not leave them dangling
        raise
    return results


def _discard(awaitables: Iterable[object]) -> None:
    """Close coroutines and cancel futures that will never be awaited."""
    for aw in awaitables:
        _discard_one(aw)


def _discard_one(aw: object) -> None:
    if inspect.iscoroutine(aw):
        aw.close()
    elif isinstance(aw, asyncio.Future):
        aw.cancel()


def _itself(aw: Awaitable[Any]) -> Awaitable[Any]:
    return aw
