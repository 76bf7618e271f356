"""Deterministic fake embedding vectors (no numpy needed)."""

from __future__ import annotations

import hashlib
import math

from kagura._checks import check_int

__all__ = ["fake_embedding"]


def fake_embedding(text: str, dim: int) -> list[float]:
    """A unit vector of ``dim`` floats derived from the sha256 of ``text``; same text, same vector."""
    check_int("dim", dim, hint=" (the embedding dimension)")
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
