"""Packing structural units into chunks, with content-defined cut points so an edit shifts few boundaries.

A *unit* is a piece of a document with a display label (a definition, a section, a paragraph). Small
neighbouring units of one group are joined up to ``chunk_size``; a pack is also closed after any unit whose
content hash says so, so a unit that grows or shrinks moves at most the packs up to the next such point.
A unit larger than a chunk is cut between lines the same way; only a single line longer than a chunk falls
back to fixed offsets (:func:`split_text`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from kagura.core.memory.ingestion.chunking._pieces import split_text

__all__ = ["Unit", "blank_line_blocks", "pack_units"]


@dataclass(frozen=True, slots=True)
class Unit:
    """A structural piece of a document: its text and its display label. ``alone`` units are never
    packed with their neighbours (a Python definition stays its own chunk), and units of different
    ``group``s (two top-level Python definitions) never share a chunk."""

    text: str
    label: str | None
    alone: bool = False
    group: int = 0


def blank_line_blocks(text: str) -> list[str]:
    """The text cut at blank lines (each block keeps its own lines, stripped of blank edges)."""
    blocks: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def _cut_after(text: str) -> bool:
    """A content-defined cut point: about one block in four closes its pack, decided by the block alone."""
    return zlib.crc32(text.strip().encode("utf-8", "surrogatepass")) % 4 == 0


def _split_lines(text: str, chunk_size: int, overlap: int) -> Iterator[str]:
    """A block too large for one chunk: lines packed with content-defined cut points (one line in four
    closes a piece once it holds a quarter chunk); a single line longer than a chunk goes to split_text."""
    piece: list[str] = []
    size = 0
    for line in text.splitlines():
        if len(line) > chunk_size:
            if piece:
                yield "\n".join(piece)
            piece, size = [], 0
            yield from split_text(line, chunk_size, overlap)
            continue
        if piece and size + 1 + len(line) > chunk_size:
            yield "\n".join(piece)
            piece, size = [], 0
        piece.append(line)
        size += len(line) + (1 if size else 0)
        if size >= chunk_size // 4 and zlib.crc32(line.strip().encode("utf-8", "surrogatepass")) % 4 == 0:
            yield "\n".join(piece)
            piece, size = [], 0
    if any(line.strip() for line in piece):
        yield "\n".join(piece)


def pack_units(units: list[Unit], chunk_size: int, overlap: int) -> Iterator[tuple[str, str | None]]:
    """Join small neighbouring units up to ``chunk_size``; cut oversize ones with :func:`split_text`."""
    pack: list[str] = []
    label: str | None = None
    size = 0
    floor = chunk_size // 4
    group = 0

    def flush() -> Iterator[tuple[str, str | None]]:
        nonlocal pack, size, label
        if pack:
            yield "\n\n".join(pack), label
        pack, size, label = [], 0, None

    for unit in units:
        text = unit.text.strip("\n")
        if not text.strip():
            continue
        if unit.alone or len(text) > chunk_size:
            yield from flush()
            if len(text) <= chunk_size:
                yield text, unit.label
            else:
                yield from ((piece, unit.label) for piece in _split_lines(text, chunk_size, overlap))
            continue
        if pack and (size + 2 + len(text) > chunk_size or unit.group != group):
            yield from flush()
        group = unit.group
        if label is None:
            label = unit.label
        pack.append(text)
        size += len(text) + (2 if size else 0)
        if size >= floor and _cut_after(text):
            yield from flush()
    yield from flush()
