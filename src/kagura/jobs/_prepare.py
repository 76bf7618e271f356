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
from kagura.jobs._known_lines import MAX_SHOWN, KnownLines, parsed_line
from kagura.jobs._ledger import SqlLedger

__all__ = [
    "MAX_SHOWN",
    "check_file",
    "file_lines",
    "prepare_file",
    "raise_problems",
    "register",
    "register_async",
]

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


def _numbered(path: Path, size: int) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    for number, raw in enumerate(file_lines(path), start=1):
        if raw.strip():
            batch.append((number, raw))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def prepare_file(ledger: SqlLedger, path: Path, model: str | None) -> int:
    """Check every line of ``path``, then record its new items; the number of requests.

    Pass 1 only reads the ledger (:class:`~kagura.jobs._known_lines.KnownLines`): a line it already holds
    (same bytes, same line, same default model) is known by its hash and not parsed again, so a resume with
    most items done is fast; other lines are checked in full. Any problem raises ``JobInputError`` with
    nothing written. Pass 2 parses and records only the lines pass 1 found new (their numbers kept in a
    compact array)."""
    check = KnownLines(ledger, model)
    try:
        for batch in _numbered(path, 1000):
            check.check(batch)
    finally:
        check.close()
    raise_problems(check.problems, check.total, str(path))
    count, fresh = check.count, check.fresh
    del check
    refused: list[str] = []
    pending: list[JobRequest] = []
    wanted = iter(fresh)
    next_line = next(wanted, None)
    for number, raw in enumerate(file_lines(path), start=1):
        if next_line is None:
            break  # nothing new further down: a resume stops reading here
        if number != next_line:
            continue
        next_line = next(wanted, None)
        item = parsed_line(raw, number, model)
        if isinstance(item, JobRequest):  # checked in pass 1 (a file changed meanwhile is refused below)
            pending.append(item)
        if len(pending) >= BATCH or next_line is None:
            refused.extend(_refusals(ledger.register(pending)))
            pending = []
    refused.extend(_refusals(ledger.register(pending)))
    raise_problems(refused[:MAX_SHOWN], len(refused), str(path))
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
