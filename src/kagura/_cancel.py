"""Cancellations that a library below us lost, raised again.

On Python 3.11, ``asyncio.wait_for`` loses a cancellation that arrives while the awaitable it wraps has
just finished (gh-86296, fixed in 3.12): the caller gets the result and carries on as if never cancelled.
redis-py sends every command under ``wait_for(..., socket_timeout)``, so a task cancelled while a
budget admission is being sent to Redis could go on calling the provider for as long as its loop runs.
Other libraries turn a cancelled read into their own error (a ``ConnectionError``), which a caller that
treats those as "the server is away" would then retry or fall back from.

A task counts the cancellations requested of it (``Task.cancelling()``; an ``asyncio.timeout`` that
handles its own takes it back with ``uncancel``), so a count that grew across an await is a cancellation,
whatever the awaited code returned or raised. :func:`keeping_cancel` wraps one such await; a retry loop
or a fallback notes :func:`cancels` when it starts and calls :func:`raise_if_cancelled_since` before it
goes on (counting from its start, not from zero: code that runs while its task is being cancelled, a
clean-up in an ``except CancelledError``, keeps working). A worker task the library started itself asks
:func:`cancel_pending`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["cancel_pending", "cancels", "keeping_cancel", "raise_if_cancelled_since"]

T = TypeVar("T")


def cancels() -> int:
    """The cancellations requested of the running task and not taken back (0 outside a task)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop
        return 0
    return task.cancelling() if task is not None else 0


def cancel_pending() -> bool:
    """True if the running task has been asked to stop: a retry or a fallback must not go on."""
    return cancels() > 0


def raise_if_cancelled_since(before: int, cause: BaseException | None = None) -> None:
    """Raise :class:`asyncio.CancelledError` if the task was cancelled since :func:`cancels` said
    ``before`` (the cancellation was lost or turned into ``cause`` by the code awaited meanwhile)."""
    if cancels() > before:
        raise asyncio.CancelledError() from cause


async def keeping_cancel(awaitable: Awaitable[T]) -> T:
    """``await awaitable``, but a cancellation requested meanwhile always ends in
    :class:`asyncio.CancelledError`, even if the awaited code returned or raised something else."""
    before = cancels()
    try:
        result = await awaitable
    except Exception as exc:
        raise_if_cancelled_since(before, exc)
        raise
    raise_if_cancelled_since(before)
    return result
