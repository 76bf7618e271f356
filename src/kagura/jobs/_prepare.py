"""Before anything is sent: check every input line, then record the items in the ledger.

A file is read twice, streamed: the first pass only checks (so a bad line anywhere sends nothing, and the
ledger is not touched), the second registers the new items in batches. Any other iterable is read once,
checked and registered batch by batch; a problem found late still stops the job before any call (the items
registered stay pending). A changed body under a ``custom_id`` that was already sent is refused.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kagura._checks import check_int
from kagura.errors import JobInputError
from kagura.jobs._input import JobRequest, Problem, scan
from kagura.jobs._input_blocks import (
    BLOCK_LINES,
    BlockModels,
    Recorded,
    forget_blocks,
    read_blocks,
    record_blocks,
    recorded_blocks,
    recorded_models,
)
from kagura.jobs._known_lines import MAX_SHOWN, KnownLines, changed_body, parsed_line
from kagura.jobs._ledger import SqlLedger
from kagura.jobs._line_ranges import LineRanges

__all__ = [
    "MAX_SHOWN",
    "FilePlan",
    "check_file",
    "file_lines",
    "plan_file",
    "prepare_file",
    "raise_problems",
    "record_file",
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


@dataclass
class FilePlan:
    """What pass 1 found in a file: ``count`` requests, of which ``new_items`` unknown to the ledger; the
    ``fresh`` lines to parse and record from ``start`` (first line, byte offset; None: nothing to record);
    the file's ``blocks`` (and their ``models``) to keep once it is recorded."""

    count: int
    new_items: int
    fresh: LineRanges
    start: tuple[int, int] | None
    blocks: list[Recorded]
    models: list[BlockModels]
    changed: bool
    block_lines: int


def plan_file(
    ledger: SqlLedger, path: Path, model: str | None, *, block_lines: int = BLOCK_LINES
) -> FilePlan:
    """Pass 1: check every line of ``path`` against the ledger, writing nothing; ``JobInputError`` listing
    the problems (bad lines, repeated custom_ids, changed bodies under custom_ids already sent).

    It reads the ledger (:class:`~kagura.jobs._known_lines.KnownLines`) block by block: a block the ledger
    recorded unchanged (:mod:`~kagura.jobs._input_blocks`) is counted unread, so a resume with most items
    done reads the file once at disk speed; a line of another block that the ledger holds (same bytes, same
    line, same default model) is known by its hash and not parsed again; other lines are checked in full."""
    check_int("block_lines", block_lines)
    recorded = recorded_blocks(ledger, block_lines)
    recorded_names = recorded_models(ledger, block_lines, len(recorded)) if recorded else []
    check = KnownLines(ledger, model)
    blocks: list[Recorded] = []
    models: list[BlockModels] = []
    start: tuple[int, int] | None = None  # (first line, byte offset) of the first block with new lines
    for block in read_blocks(path, block_lines, model):
        known = recorded[block.index] if block.index < len(recorded) else None
        if known is not None and known[0] == block.digest and check.skip(block.first_line, len(block.lines),
                                                                          known[1]):  # fmt: skip
            blocks.append(known)
            models.append(recorded_names[block.index])
            continue
        fresh = len(check.fresh)
        requests, keep, names = check.check_block(block.first_line, block.lines)
        blocks.append((block.digest, requests) if keep else None)
        models.append(names)
        if start is None and len(check.fresh) > fresh:
            start = (block.first_line, block.offset)
    check.finish(path)
    raise_problems(check.problems, check.total, str(path))
    changed = start is not None or blocks != recorded or models != recorded_names
    return FilePlan(check.count, check.new_items, check.fresh, start, blocks, models, changed, block_lines)


def record_file(
    ledger: SqlLedger,
    path: Path,
    model: str | None,
    plan: FilePlan,
    on_batch: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Pass 2: parse and record the lines ``plan`` found new (their numbers kept in a compact array),
    reading from the first block that holds one, in batches (``on_batch()`` after each); then keep the
    file's blocks for the next run. ``stop`` (set from another thread) ends it after the current batch."""
    if plan.start is not None:
        forget_blocks(ledger)  # the items change: until the file is recorded whole, no block is skipped
        if not _record_fresh(ledger, path, model, plan, on_batch, stop):
            return
    if plan.changed:
        record_blocks(ledger, plan.block_lines, plan.blocks, plan.models)


def prepare_file(ledger: SqlLedger, path: Path, model: str | None, *, block_lines: int = BLOCK_LINES) -> int:
    """Check every line of ``path`` (:func:`plan_file`), then record its new items (:func:`record_file`);
    the number of requests."""
    plan = plan_file(ledger, path, model, block_lines=block_lines)
    record_file(ledger, path, model, plan)
    return plan.count


def _record_fresh(ledger: SqlLedger, path: Path, model: str | None, plan: FilePlan,
                  on_batch: Callable[[], None] | None, stop: threading.Event | None) -> bool:  # fmt: skip
    """Parse and record the lines numbered in ``plan.fresh`` (ascending); False when stopped."""
    assert plan.start is not None
    refused: list[str] = []
    pending: list[JobRequest] = []
    wanted = iter(plan.fresh)
    next_line = next(wanted, None)

    def flush() -> bool:
        refused.extend(_refusals(ledger.register(pending)))
        pending.clear()
        if on_batch is not None:
            on_batch()
        return stop is None or not stop.is_set()

    with path.open("rb") as handle:
        handle.seek(plan.start[1])
        for number, raw in enumerate(handle, start=plan.start[0]):
            if next_line is None:
                break  # nothing new further down: a resume stops reading here
            if number != next_line:
                continue
            next_line = next(wanted, None)
            item = parsed_line(raw, number, model)
            if isinstance(item, JobRequest):  # checked in pass 1 (a file changed meanwhile is refused below)
                pending.append(item)
            if (len(pending) >= BATCH or next_line is None) and not flush():
                return False
    if pending and not flush():
        return False
    raise_problems(refused[:MAX_SHOWN], len(refused), str(path))  # another worker sent it meanwhile
    return True


def _refusals(refused: list[tuple[JobRequest, str]]) -> list[str]:
    return [changed_body(item.line, item.custom_id, state) for item, state in refused]


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
