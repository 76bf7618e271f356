"""A requests file read in blocks of lines, and the digests of the blocks the ledger last prepared.

A block is ``size`` consecutive lines (the last one may be shorter), found by its index: block ``i`` holds
lines ``i * size + 1`` on. Its digest is a 128-bit BLAKE2b of the default model and the block's bytes. After
a file is prepared without a problem, the ledger keeps each block's digest and its number of requests in
one row (``job_input_blocks``), or ``-`` for a block that cannot be skipped later (it holds a line the
ledger knows under another line number), with the models its requests name when every line of it was
parsed (else unknown). A block with the same index and digest on a later run holds the
same lines at the same places, each recorded in the ledger at its line: a resume counts it and reads on,
with no line parsed, hashed or looked up. The row is forgotten before anything else is recorded, so it never
describes a file that was prepared only in part. A dollar cap's price check (:func:`file_models`) takes an
unchanged block's models from there, and parses only the other blocks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from kagura.jobs._input import JobRequest
from kagura.jobs._known_lines import parsed_line
from kagura.jobs._ledger import SqlLedger

__all__ = [
    "BLOCK_LINES",
    "Block",
    "BlockModels",
    "FileModels",
    "Recorded",
    "file_models",
    "forget_blocks",
    "read_blocks",
    "record_blocks",
    "recorded_blocks",
    "recorded_models",
]

BLOCK_LINES = 4096

Recorded = tuple[str, int] | None
"""A block as the ledger keeps it: (digest, requests), or None when it cannot be skipped."""

BlockModels = frozenset[str] | None
"""The models a block's requests name (None: unknown, the block was not parsed whole)."""


@dataclass(frozen=True, slots=True)
class Block:
    """Lines ``first_line`` on (1-based), starting at byte ``offset`` of the file."""

    index: int
    first_line: int
    offset: int
    lines: list[bytes]
    digest: str


def read_blocks(path: Path, size: int, model: str | None) -> Iterator[Block]:
    """The blocks of ``path``, streamed (one block in memory at a time)."""
    salt = (model or "").encode() + b"\0"
    offset = 0
    with path.open("rb") as handle:
        for index in range(1 << 62):
            lines = list(islice(handle, size))
            if not lines:
                return
            data = b"".join(lines)
            digest = hashlib.blake2b(salt + data, digest_size=16).hexdigest()
            yield Block(index, index * size + 1, offset, lines, digest)
            offset += len(data)


def recorded_blocks(ledger: SqlLedger, size: int) -> list[Recorded]:
    """The blocks the ledger recorded for its job with this block size (none: nothing can be skipped)."""
    with ledger._tx() as conn:
        row = conn.execute(
            ledger._sql("SELECT block_lines, blocks FROM job_input_blocks WHERE job = ?"), (ledger.job,)
        ).fetchone()
    if row is None or int(row[0]) != size or not row[1]:
        return []
    recorded: list[Recorded] = []
    for entry in str(row[1]).split(","):
        digest, _, requests = entry.partition(":")
        recorded.append((digest, int(requests)) if requests else None)
    return recorded


def recorded_models(ledger: SqlLedger, size: int, blocks: int) -> list[BlockModels]:
    """The models of the job's ``blocks`` recorded blocks (each None when unknown: a ledger of an older
    kagura, or a block not parsed whole)."""
    with ledger._tx() as conn:
        row = conn.execute(
            ledger._sql("SELECT block_lines, models FROM job_input_blocks WHERE job = ?"), (ledger.job,)
        ).fetchone()
    unknown: list[BlockModels] = [None] * blocks
    if row is None or int(row[0]) != size or not row[1]:
        return unknown
    try:
        data = json.loads(str(row[1]))
        names = [str(name) for name in data["names"]]
        found = [None if entry is None else frozenset(names[i] for i in entry) for entry in data["blocks"]]
    except (ValueError, TypeError, KeyError, IndexError):  # not what this code writes: parse the blocks
        return unknown
    return found if len(found) == blocks else unknown


def _blocks_text(blocks: list[Recorded]) -> str:
    return ",".join("-" if block is None else f"{block[0]}:{block[1]}" for block in blocks)


def _models_text(models: list[BlockModels]) -> str:
    names = sorted(set().union(*(entry for entry in models if entry is not None)))
    index = {name: i for i, name in enumerate(names)}
    entries = [None if entry is None else sorted(index[name] for name in entry) for entry in models]
    return json.dumps({"names": names, "blocks": entries}, separators=(",", ":"))


def record_blocks(ledger: SqlLedger, size: int, blocks: list[Recorded], models: list[BlockModels]) -> None:
    """Keep the blocks of the file just prepared, with their models (replacing the job's earlier ones)."""
    text = _blocks_text(blocks)
    with ledger._tx() as conn:
        conn.execute(
            ledger._sql(
                "INSERT INTO job_input_blocks (job, block_lines, blocks, models) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (job) DO UPDATE SET block_lines = excluded.block_lines,"
                " blocks = excluded.blocks, models = excluded.models"
            ),
            (ledger.job, size, text, _models_text(models)),
        )


@dataclass(frozen=True, slots=True)
class FileModels:
    """The models a file's requests name, and how many of its blocks had to be parsed to know them."""

    models: frozenset[str]
    parsed_blocks: int


def file_models(
    ledger: SqlLedger | None, path: Path, model: str | None, *, size: int = BLOCK_LINES
) -> FileModels:
    """The models ``path``'s requests name (``model`` for those naming none). A block the ledger recorded
    with the same digest and known models is not parsed; one recorded with unknown models is, and its
    models are kept for the next check. Bad lines are left to the job's own check."""
    recorded = recorded_blocks(ledger, size) if ledger is not None else []
    models = recorded_models(ledger, size, len(recorded)) if ledger is not None and recorded else []
    learned = list(models)
    found: set[str] = set()
    parsed = 0
    for block in read_blocks(path, size, model):
        known = recorded[block.index] if block.index < len(recorded) else None
        same = known is not None and known[0] == block.digest
        if same and models[block.index] is not None:
            found.update(models[block.index] or ())
            continue
        parsed += 1
        names: set[str] = set()
        for number, raw in enumerate(block.lines, start=block.first_line):
            if raw.strip():
                item = parsed_line(raw, number, model)
                if isinstance(item, JobRequest):
                    names.add(str(item.body.get("model")))
        found.update(names)
        if same:
            learned[block.index] = frozenset(names)
    if ledger is not None and learned != models:
        _learn_models(ledger, size, recorded, learned)
    return FileModels(frozenset(found), parsed)


def _learn_models(ledger: SqlLedger, size: int, recorded: list[Recorded], models: list[BlockModels]) -> None:
    """Keep the models found for recorded blocks, unless the blocks changed meanwhile (another worker)."""
    with ledger._tx() as conn:
        conn.execute(
            ledger._sql(
                "UPDATE job_input_blocks SET models = ? WHERE job = ? AND block_lines = ? AND blocks = ?"
            ),
            (_models_text(models), ledger.job, size, _blocks_text(recorded)),
        )


def forget_blocks(ledger: SqlLedger) -> None:
    """Drop the job's blocks: the ledger is about to change, and no block may be skipped until it is kept."""
    with ledger._tx() as conn:
        conn.execute(ledger._sql("DELETE FROM job_input_blocks WHERE job = ?"), (ledger.job,))
