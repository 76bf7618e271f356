"""Cutting a job's requests into the chunks one backend accepts (its limits, its encoding, a token cap)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from kagura.core.llm.batches._chunks import split_into_chunks
from kagura.core.llm.batches._types import BatchBackend, BatchRequest

__all__ = ["chunk_requests", "estimate_tokens"]


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return json.dumps(content) if content is not None else ""


def estimate_tokens(request: BatchRequest) -> int:
    """Tokens a request may enqueue, erring high: its text at 4 characters a token, plus its output cap
    (``max_completion_tokens`` / ``max_tokens``) when it sets one."""
    body = request.body
    texts = [_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]
    raw_input = body.get("input")
    texts += [raw_input] if isinstance(raw_input, str) else [t for t in raw_input or [] if isinstance(t, str)]
    prompt = sum(math.ceil(len(t) / 4) for t in texts)
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return prompt + (cap if isinstance(cap, int) and cap > 0 else 0)


def chunk_requests(
    backend: BatchBackend,
    requests: Iterable[BatchRequest],
    *,
    max_tokens: int | None = None,
    tokens: Callable[[BatchRequest], int] = estimate_tokens,
) -> Iterator[list[BatchRequest]]:
    """``requests`` in order, in the fewest chunks within ``backend.limits`` (bytes as the backend encodes
    them) and, when given, ``max_tokens`` enqueued tokens per chunk (the provider's per-model limit less
    what is already queued). Streams; an oversized single request raises ``ValueError``."""
    limits = backend.limits if max_tokens is None else replace(backend.limits, max_tokens=max_tokens)
    return split_into_chunks(requests, limits, size=lambda r: len(backend.encode(r)) + 1, tokens=tokens)
