"""Split extracted segments into overlapping chunks that keep their page and section.

A chunk never spans two segments, so every chunk can name the page or section it came from. Inside a
segment, cuts prefer a paragraph break, then a line break, then the end of a sentence, then a space, as
long as the cut falls in the second half of the window; the next chunk starts ``overlap`` characters
before the cut (moved forward to the next word start).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from kagura._checks import check_int
from kagura.core.memory.stores._rows import ChunkPiece

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_OVERLAP",
    "ChunkPiece",
    "SegmentLike",
    "check_chunking",
    "chunk_segments",
    "split_text",
]

DEFAULT_CHUNK_SIZE = 800
DEFAULT_OVERLAP = 120

# Preferred cut points, best first.
_SEPARATORS = ("\n\n", "\n", ". ", "? ", "! ", "; ", " ")


class SegmentLike(Protocol):
    """What the chunkers read from an extracted segment (``kagura.loaders.Segment`` fits)."""

    @property
    def text(self) -> str: ...
    @property
    def page(self) -> int | None: ...
    @property
    def section(self) -> str | None: ...


def check_chunking(chunk_size: int, overlap: int) -> None:
    """Raise ``ValueError`` unless ``0 <= overlap < chunk_size``."""
    check_int("chunk_size", chunk_size, hint=" (characters)")
    check_int("overlap", overlap, 0, maximum=chunk_size - 1, hint=f" (less than chunk_size, {chunk_size})")


def _cut_point(text: str, start: int, end: int) -> int:
    """Where to end the window ``text[start:end]``: at the best separator in its second half."""
    floor = start + (end - start) // 2
    for sep in _SEPARATORS:
        found = text.rfind(sep, floor, end)
        if found != -1:
            return found + len(sep)
    return end


def split_text(text: str, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[str]:
    """Split one text into pieces of at most ``chunk_size`` characters overlapping by about ``overlap``."""
    check_chunking(chunk_size, overlap)
    text = text.strip()
    if not text:
        return []
    if len(text) <= chunk_size:
        return [text]
    pieces: list[str] = []
    start, n = 0, len(text)
    while start < n:
        end = min(start + chunk_size, n)
        if end < n:
            end = _cut_point(text, start, end)
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        if overlap:
            space = text.find(" ", nxt, end)
            if space != -1 and space + 1 < end:
                nxt = space + 1
        else:
            nxt = end
        start = nxt
    return pieces


def chunk_segments(
    segments: Iterable[SegmentLike], chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP
) -> list[ChunkPiece]:
    """Chunk every segment in order; ordinals run across the whole document."""
    check_chunking(chunk_size, overlap)
    out: list[ChunkPiece] = []
    for segment in segments:
        for piece in split_text(segment.text, chunk_size, overlap):
            out.append(ChunkPiece(piece, len(out), segment.page, segment.section))
    return out
