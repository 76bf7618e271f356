"""The pool's workers: one small loop per result layout (the plain hot path), and the step workers.

Each worker starts with the item it was created for (``run.first()``), then pulls the next one from the
shared source whenever it is free. An item's own failure (see :func:`is_failure`) is either put in
place (``return_exceptions``) or aborts the run; anything else (a real cancellation) propagates.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from kagura.core.parallel._run import END, Func, Run, Step, Worker, is_failure

__all__ = ["PLAIN_WORKERS", "async_worker", "plain_step", "step_worker"]


# The plain workers: the hot path, one small loop per result layout, written out for speed.


def _place_worker(run: Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    async def worker() -> None:
        if (first := run.first()) is END:
            return
        try:
            for index, item in itertools.chain((first,), source):
                try:
                    results[index] = await func(item)
                except (Exception, asyncio.CancelledError) as exc:
                    if not is_failure(exc):
                        raise
                    if not return_exceptions:
                        run.abort(exc)
                        return
                    results[index] = exc
        except Exception as exc:  # the input itself failed
            run.abort(exc)

    return worker


def _append_worker(run: Run, source: Any, func: Func, results: list[Any], return_exceptions: bool) -> Worker:
    append = results.append

    async def worker() -> None:
        if (first := run.first()) is END:
            return
        try:
            for item in itertools.chain((first,), source):
                try:
                    append(await func(item))
                except (Exception, asyncio.CancelledError) as exc:
                    if not is_failure(exc):
                        raise
                    if not return_exceptions:
                        run.abort(exc)
                        return
                    append(exc)
        except Exception as exc:
            run.abort(exc)

    return worker


PLAIN_WORKERS: dict[str, Callable[[Run, Any, Func, list[Any], bool], Worker]] = {
    "append": _append_worker,
    "grow": _place_worker,  # over a source that makes each item's slot as it is pulled
    "place": _place_worker,
}


def step_worker(run: Run, source: Iterator[tuple[int, Any]], step: Step) -> Worker:
    async def worker() -> None:
        if (first := run.first()) is END:
            return
        try:
            for index, item in itertools.chain((first,), source):
                await step(index, item)
        except (Exception, asyncio.CancelledError) as exc:
            if not is_failure(exc):
                raise
            run.abort(exc)

    return worker


def async_worker(run: Run, pull: Callable[[], Awaitable[Any]], step: Step) -> Worker:
    async def worker() -> None:
        entry = run.first()
        try:
            while entry is not END:
                await step(*entry)
                entry = await pull()
        except (Exception, asyncio.CancelledError) as exc:
            if not is_failure(exc):
                raise
            run.abort(exc)

    return worker


def plain_step(func: Func, results: list[Any], mode: str, return_exceptions: bool) -> Step:
    """The plain path for async sources (which need a lock per pull anyway)."""

    async def step(index: int, item: Any) -> None:
        try:
            value = await func(item)
        except (Exception, asyncio.CancelledError) as exc:
            if not (return_exceptions and is_failure(exc)):
                raise
            value = exc
        if mode == "append":
            results.append(value)
            return
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        results[index] = value

    return step
