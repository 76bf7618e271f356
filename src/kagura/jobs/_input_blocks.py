"""A requests file read in blocks of lines, and the digests of the blocks the ledger last prepared.

A block is ``size`` consecutive lines (the last one may be shorter), found by its index: block ``i`` holds
lines ``i * size + 1`` on. Its digest is a 128-bit BLAKE2b of the default model and the block's bytes. After
a file is prepared without a problem, the ledger keeps each block's digest and its number of requests in
one row (``job_input_blocks``), or ``-`` for a block that cannot be skipped later (it holds a line the
ledger knows under another line number). A block with the same index and digest on a later run holds the
same lines at the same places, each recorded in the ledger at its line: a resume counts it and reads on,
with no line parsed, hashed or looked up. The row is forgotten before anything else is recorded, so it never
describes a file that was prepared only in part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from kagura.jobs._ledger import SqlLedger

__all__ = [
    "BLOCK_LINES",
    "Block",
    "Recorded",
    "forget_blocks",
    "read_blocks",
    "record_blocks",
    "recorded_blocks",
]

BLOCK_LINES = 4096

Recorded = tuple[str, int] | None
"""A block as the ledger keeps it: (digest, requests), or None when it cannot be skipped."""


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


def record_blocks(ledger: SqlLedger, size: int, blocks: list[Recorded]) -> None:
    """Keep the blocks of the file just prepared (replacing the job's earlier ones)."""
    text = ",".join("-" if block is None else f"{block[0]}:{block[1]}" for block in blocks)
    with ledger._tx() as conn:
        conn.execute(
            ledger._sql(
                "INSERT INTO job_input_blocks (job, block_lines, blocks) VALUES (?, ?, ?)"
                " ON CONFLICT (job) DO UPDATE"
                " SET block_lines = excluded.block_lines, blocks = excluded.blocks"
            ),
            (ledger.job, size, text),
        )


def forget_blocks(ledger: SqlLedger) -> None:
    """Drop the job's blocks: the ledger is about to change, and no block may be skipped until it is kept."""
    with ledger._tx() as conn:
        conn.execute(ledger._sql("DELETE FROM job_input_blocks WHERE job = ?"), (ledger.job,))
