"""Before anything is sent: check every input line, then record the items in the ledger.

A file is read twice, streamed: the first pass only checks (so a bad line anywhere sends nothing, and the
ledger is not touched), the second registers items in batches. Any other iterable is read once, checked
and registered batch by batch; a problem found late still stops the job before any call (the items
registered stay pending). A changed body under a ``custom_id`` that was already sent is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import Any

from kagura.errors import JobInputError
from kagura.jobs._input import JobRequest, Problem, scan
from kagura.jobs._ledger import SqlLedger

__all__ = ["MAX_SHOWN", "check_file", "file_lines", "raise_problems", "register", "register_async"]

MAX_SHOWN = 20
"""Problems listed in the error message (all are counted)."""

BATCH = 500


def file_lines(path: Path) -> Iterator[bytes]:
    """The lines of ``path``, streamed."""
    with path.open("rb") as handle:
        yield from handle


def raise_problems(problems: list[str], total: int, source: str) -> None:
    if not total:
        return
    shown = "\n  ".join(problems[:MAX_SHOWN])
    more = f"\n  ... and {total - MAX_SHOWN} more" if total > MAX_SHOWN else ""
    raise JobInputError(
        f"{source}: {total} problem{'s' if total != 1 else ''} found, nothing was sent:\n  {shown}{more}",
        tuple(problems),
    )


def check_file(path: Path, model: str | None) -> int:
    """Check every line of ``path``; the number of requests. ``JobInputError`` listing the problems."""
    problems: list[str] = []
    total = count = 0
    for item in scan(file_lines(path), model):
        if isinstance(item, Problem):
            total += 1
            if len(problems) < MAX_SHOWN:
                problems.append(str(item))
        else:
            count += 1
    raise_problems(problems, total, str(path))
    return count


def _refusals(refused: list[tuple[JobRequest, str]]) -> list[str]:
    return [
        f"line {item.line}: custom_id {item.custom_id!r} is already {state} in the ledger with another body;"
        " give the changed request a new custom_id (or use another --ledger)"
        for item, state in refused
    ]


def register(ledger: SqlLedger, items: Iterable[Any], model: str | None, source: str) -> int:
    """Check and record ``items`` (lines or dicts) in the ledger; the number of requests."""
    problems: list[str] = []
    total = count = 0
    batch: list[JobRequest] = []

    def flush() -> None:
        nonlocal total
        found = _refusals(ledger.register(batch))
        total += len(found)
        problems.extend(found[: max(0, MAX_SHOWN - len(problems))])
        batch.clear()

    for item in scan(items, model):
        if isinstance(item, Problem):
            total += 1
            if len(problems) < MAX_SHOWN:
                problems.append(str(item))
            continue
        count += 1
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    flush()
    raise_problems(problems, total, source)
    return count


async def register_async(ledger: SqlLedger, items: AsyncIterable[Any], model: str | None) -> int:
    """:func:`register` for an async iterable: batches are checked and recorded off the event loop."""
    problems: list[str] = []
    total = count = 0
    seen: set[int] = set()
    batch: list[Any] = []
    offset = 0

    def work(chunk: list[Any], first_line: int) -> tuple[int, list[str]]:
        good: list[JobRequest] = []
        found: list[str] = []
        for item in scan(chunk, model, seen=seen, first_line=first_line):
            if isinstance(item, Problem):
                found.append(str(item))
            else:
                good.append(item)
        found.extend(_refusals(ledger.register(good)))
        return len(good), found

    async def flush() -> None:
        nonlocal total, count, offset
        chunk = list(batch)
        batch.clear()
        good, found = await asyncio.to_thread(work, chunk, offset + 1)
        count += good
        offset += len(chunk)
        total += len(found)
        problems.extend(found[: max(0, MAX_SHOWN - len(problems))])

    async for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            await flush()
    await flush()
    raise_problems(problems, total, "the requests")
    return count
