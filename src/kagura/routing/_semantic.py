"""The ``semantic`` strategy: local sentence embeddings of each agent's samples and description.

An agent's raw score is the best cosine similarity between the query and any of its texts (samples, then
the description; the agent's name when it has neither). Raw cosines of a sentence encoder are not
probabilities, so they are mapped to a 0..1 confidence linearly between two anchors::

    confidence = clip((cosine - FLOOR) / (CEILING - FLOOR), 0, 1)      FLOOR = 0.15, CEILING = 0.65

For all-MiniLM-L6-v2, unrelated sentence pairs sit around 0.0-0.15 (confidence 0) and paraphrases of the
same request at 0.65 and above (confidence 1). The default threshold 0.3 is a cosine of 0.30. Works fully
offline with the default local embedder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from kagura.routing._types import AgentSpec

__all__ = ["CEILING", "FLOOR", "SemanticStrategy", "calibrate"]

FLOOR = 0.15
CEILING = 0.65


def calibrate(cosine: float) -> float:
    """Map a cosine similarity to the documented 0..1 confidence."""
    return float(min(1.0, max(0.0, (cosine - FLOOR) / (CEILING - FLOOR))))


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
        self._key: tuple[tuple[str, tuple[str, ...]], ...] | None = None
        self._matrix: np.ndarray | None = None
        self._owners: list[int] = []
        self._lock = asyncio.Lock()

    def _get_embedder(self) -> Any:
        if self._embedder is None:
            from kagura.core.memory import get_default_embedder  # pyright: ignore[reportMissingImports]

            self._embedder = get_default_embedder()
        return self._embedder

    def invalidate(self) -> None:
        """Forget the agent embeddings (an agent was registered)."""
        self._key = None
        self._matrix = None

    async def _agent_matrix(self, agents: Sequence[AgentSpec]) -> tuple[np.ndarray, list[int]]:
        key = tuple((a.name, tuple(a.texts() or [a.name])) for a in agents)
        async with self._lock:
            if self._key != key or self._matrix is None:
                texts: list[str] = []
                owners: list[int] = []
                for index, (_, agent_texts) in enumerate(key):
                    texts.extend(agent_texts)
                    owners.extend([index] * len(agent_texts))
                self._matrix = await _embed(self._get_embedder(), texts)
                self._owners = owners
                self._key = key
            return self._matrix, self._owners

    async def scores(self, query: str, agents: Sequence[AgentSpec]) -> list[tuple[str, float]]:
        """Agents best first, with calibrated confidences."""
        if not agents:
            return []
        matrix, owners = await self._agent_matrix(agents)
        query_vec = (await _embed(self._get_embedder(), [query]))[0]
        sims = matrix @ query_vec
        best = [-1.0] * len(agents)
        for row, owner in enumerate(owners):
            best[owner] = max(best[owner], float(sims[row]))
        order = sorted(range(len(agents)), key=lambda i: (-best[i], i))
        return [(agents[i].name, calibrate(best[i])) for i in order]
