"""The ``semantic`` strategy: local sentence embeddings of each agent's samples and description.

An agent's raw score is the best cosine similarity between the query and any of its texts (samples, then
the description; the agent's name when it has neither). Raw cosines of a sentence encoder are not
probabilities, so they are mapped to a 0..1 confidence linearly between two anchors::

    calibrated = clip((cosine - floor) / (ceiling - floor), 0, 1)
    confidence = min(1, calibrated + KEYWORD_WEIGHT * intent_score)      KEYWORD_WEIGHT = 0.5
QUERY_CACHE_SIZE = 256

Anchors, measured with the default all-MiniLM-L6-v2 on kagura's labelled routing set: for latin-script
queries unrelated pairs sit around 0.0-0.15 and paraphrases of a request at 0.65 and above, so
``(floor, ceiling) = (0.15, 0.65)``. The model is English; Japanese (any CJK) text shares many character
tokens, so even unrelated Japanese sentences reach 0.5-0.65 and matching ones 0.8-0.9: queries containing
CJK use ``(0.55, 0.90)``. ``intent_score`` is the ``intent`` strategy's keyword score (0, 0.5, 0.75, ...)
for the agent's ``intents``, so declared keywords still count (they matter most for Japanese). Agents are
ranked by the uncapped sum, then by raw cosine. The default threshold 0.3 is a latin cosine of 0.30 without
any keyword. Works fully offline with the default local embedder.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from kagura.routing._intent import intent_scores
from kagura.routing._text import has_cjk
from kagura.routing._types import AgentSpec

__all__ = ["ANCHORS", "KEYWORD_WEIGHT", "QUERY_CACHE_SIZE", "SemanticStrategy", "calibrate"]

#: (floor, ceiling) cosine anchors per script of the query.
ANCHORS = {"latin": (0.15, 0.65), "cjk": (0.55, 0.90)}
KEYWORD_WEIGHT = 0.5
QUERY_CACHE_SIZE = 256


def calibrate(cosine: float, script: str = "latin") -> float:
    """Map a cosine similarity to the documented 0..1 confidence for a query in ``script``."""
    floor, ceiling = ANCHORS[script]
    return float(min(1.0, max(0.0, (cosine - floor) / (ceiling - floor))))


async def _embed(embedder: Any, texts: list[str]) -> np.ndarray:
    if hasattr(embedder, "aembed"):
        return np.asarray(await embedder.aembed(texts), dtype=np.float32)
    return np.asarray(await asyncio.to_thread(embedder.embed, texts), dtype=np.float32)


class SemanticStrategy:
    """Embedding similarity; ``embedder`` is anything with ``aembed(texts)`` or ``embed(texts)`` returning
    L2-normalised rows (default: the cached local MiniLM embedder)."""

    name = "semantic"
    default_threshold = 0.3

    def __init__(self, embedder: Any = None) -> None:
        self._embedder = embedder
        self._cached: tuple[tuple[tuple[str, tuple[str, ...]], ...], np.ndarray, list[int]] | None = None
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _get_embedder(self) -> Any:
        if self._embedder is None:
            from kagura.core.memory import get_default_embedder

            self._embedder = get_default_embedder()
        return self._embedder

    def invalidate(self) -> None:
        """Forget the agent embeddings (an agent was registered)."""
        self._cached = None

    async def _agent_matrix(self, agents: Sequence[AgentSpec]) -> tuple[np.ndarray, list[int]]:
        """The embeddings of every agent text and the agent index of each row, cached per registry state.

        No lock: two first calls racing both embed and store the same result, which is harmless and keeps
        the strategy usable from any event loop.
        """
        key = tuple((a.name, tuple(a.texts() or [a.name])) for a in agents)
        cached = self._cached
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        texts: list[str] = []
        owners: list[int] = []
        for index, (_, agent_texts) in enumerate(key):
            texts.extend(agent_texts)
            owners.extend([index] * len(agent_texts))
        matrix = await _embed(self._get_embedder(), texts)
        self._cached = (key, matrix, owners)
        return matrix, owners

    async def _query_vector(self, query: str) -> np.ndarray:
        """The query's embedding; the last ``QUERY_CACHE_SIZE`` queries are remembered, since the
        speculative protocol and the serial comparison route the same text more than once."""
        cached = self._query_cache.get(query)
        if cached is not None:
            self._query_cache.move_to_end(query)
            return cached
        vector = (await _embed(self._get_embedder(), [query]))[0]
        self._query_cache[query] = vector
        if len(self._query_cache) > QUERY_CACHE_SIZE:
            self._query_cache.popitem(last=False)
        return vector

    async def scores(self, query: str, agents: Sequence[AgentSpec]) -> list[tuple[str, float]]:
        """Agents best first, with calibrated confidences."""
        if not agents:
            return []
        matrix, owners = await self._agent_matrix(agents)
        query_vec = await self._query_vector(query)
        sims = matrix @ query_vec
        best = [-1.0] * len(agents)
        for row, owner in enumerate(owners):
            best[owner] = max(best[owner], float(sims[row]))
        script = "cjk" if has_cjk(query) else "latin"
        keywords = [score for _, score, _ in intent_scores(query, agents)]
        raw = [calibrate(best[i], script) + KEYWORD_WEIGHT * keywords[i] for i in range(len(agents))]
        order = sorted(range(len(agents)), key=lambda i: (-raw[i], -best[i], i))
        return [(agents[i].name, min(1.0, raw[i])) for i in order]
