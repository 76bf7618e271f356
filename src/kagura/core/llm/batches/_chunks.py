"""Splitting a job's requests into batches a provider accepts: requests, bytes and tokens per batch.

OpenAI takes at most 50,000 requests and 200 MB per batch input file; Anthropic 100,000 requests and
256 MB per message batch. The enqueued-token limit (per model, per organisation tier) is a parameter:
give ``max_tokens`` to keep every chunk under it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from kagura._checks import check_int

__all__ = ["ANTHROPIC_BATCH_LIMITS", "OPENAI_BATCH_LIMITS", "ChunkLimits", "split_into_chunks"]

T = TypeVar("T")


@dataclass(frozen=True)
class ChunkLimits:
    """The most one batch may hold: ``max_requests``, ``max_bytes`` and, when given, ``max_tokens``."""

    max_requests: int
    max_bytes: int
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_bytes", "max_tokens"):
            value = getattr(self, name)
            if value is None and name == "max_tokens":
                continue
            check_int(f"ChunkLimits.{name}", value)


OPENAI_BATCH_LIMITS = ChunkLimits(max_requests=50_000, max_bytes=200 * 2**20)
ANTHROPIC_BATCH_LIMITS = ChunkLimits(max_requests=100_000, max_bytes=256 * 2**20)


def _no_tokens(item: object) -> int:
    return 0


def split_into_chunks(
    items: Iterable[T],
    limits: ChunkLimits,
    *,
    size: Callable[[T], int],
    tokens: Callable[[T], int] = _no_tokens,
) -> Iterator[list[T]]:
    """``items`` in order, cut into the fewest consecutive chunks (greedily) that stay within ``limits``.

    ``size(item)`` is the bytes the item takes in the upload (its line and newline), ``tokens(item)`` the
    tokens it enqueues. Streams: one chunk is held at a time. An item that alone passes a limit raises
    ``ValueError`` naming its position, since no chunk could hold it.
    """
    chunk: list[T] = []
    chunk_bytes = chunk_tokens = 0
    for position, item in enumerate(items):
        item_bytes, item_tokens = size(item), tokens(item)
        if item_bytes < 0 or item_tokens < 0:
            raise ValueError(f"item {position}: size and tokens must be >= 0")
        if item_bytes > limits.max_bytes:
            raise ValueError(f"item {position} takes {item_bytes} bytes, over one batch's {limits.max_bytes}")
        if limits.max_tokens is not None and item_tokens > limits.max_tokens:
            raise ValueError(
                f"item {position} enqueues {item_tokens} tokens, over the {limits.max_tokens} limit"
            )
        fits = (
            len(chunk) < limits.max_requests
            and chunk_bytes + item_bytes <= limits.max_bytes
            and (limits.max_tokens is None or chunk_tokens + item_tokens <= limits.max_tokens)
        )
        if chunk and not fits:
            yield chunk
            chunk, chunk_bytes, chunk_tokens = [], 0, 0
        chunk.append(item)
        chunk_bytes += item_bytes
        chunk_tokens += item_tokens
    if chunk:
        yield chunk
