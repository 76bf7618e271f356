"""Fusing keyword and vector rankings into one (hybrid retrieval), and the search modes.

Reciprocal rank fusion (Cormack et al., 2009): a chunk ranked ``r`` (from 1) in a list earns
``weight / (k + r)`` from that list, summed over the lists; the fused order is by that sum. It needs no
score calibration between BM25 and cosine, which live on different scales, and a chunk both lists agree on
beats one that only one list likes. ``kagura bench corpus`` measures the variants (``k``, weights)
against vector-only and keyword-only on real questions; the defaults here are its best.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["MODES", "RRF_K", "SearchMode", "check_mode", "reciprocal_rank_fusion"]

SearchMode = Literal["hybrid", "vector", "keyword"]
MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "keyword")
RRF_K = 60
"""The rank offset of reciprocal rank fusion: larger values flatten the advantage of the very top ranks."""


def check_mode(mode: object) -> SearchMode:
    """``mode`` if it is one of :data:`MODES`, else ``ValueError`` listing them."""
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    *,
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Fuse rankings of ids (each best first) into ``(id, fused score)``, best first.

    Ties are broken by the best rank the id reached in any list, then by its rank in each list in turn (the
    first list first; absent counts as last). The fused order thus depends only on the rankings, never on
    the ids themselves: two stores holding the same index under different chunk ids fuse alike.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict[int, float] = {}
    ranks: dict[int, list[float]] = {}
    for index, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            ranks.setdefault(item, [math.inf] * len(rankings))[index] = rank
    return sorted(scores.items(), key=lambda pair: (-pair[1], min(ranks[pair[0]]), ranks[pair[0]], pair[0]))
