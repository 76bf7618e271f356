"""A query over a store: the keyword and vector rankings, fused, boosted, and cut to one result per file.

``mode``: ``"hybrid"`` fuses the keyword ranking (BM25 over chunk text, file path and name, and
section/symbol; both stores compute the same scores) with the vector ranking (cosine: exact on SQLite,
HNSW on PostgreSQL) by reciprocal rank fusion; ``"vector"`` is cosine only; ``"keyword"`` is BM25 only
(the embedder is not even loaded). ``MultimodalRAG.query`` documents the scores of each mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from kagura.core.memory._report import SearchResult
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.embedders._base import embedder_id
from kagura.core.memory.search._grouping import best_per_file
from kagura.core.memory.search._hybrid import RRF_K, SearchMode, check_mode, reciprocal_rank_fusion
from kagura.core.memory.search._identifiers import boost_identifiers, query_identifiers
from kagura.core.memory.stores._protocol import RAGStoreProtocol

__all__ = ["FUSION_DEPTH", "PER_FILE_FACTOR", "Query", "search"]

FUSION_DEPTH = 50
"""Candidates taken from each ranking before a hybrid search fuses them."""
PER_FILE_FACTOR = 5
"""``per_file=True`` ranks this many chunks per result wanted, then keeps each file's best."""


def _file_types() -> set[str]:
    """The file types a search can be restricted to (the loaders are imported only when one is asked)."""
    from kagura.loaders import FileType

    return {str(t) for t in FileType}


@dataclass(frozen=True)
class Query:
    """One search, its arguments checked (``ValueError``/``TypeError`` naming the bad one)."""

    text: str
    top_k: int = 5
    file_type: str | None = None
    mode: SearchMode = "hybrid"
    exact: bool = False
    per_file: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("query text must be a non-empty string")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"top_k must be an int >= 1, got {self.top_k!r}")
        if self.file_type is not None and str(self.file_type) not in (kinds := _file_types()):
            raise ValueError(f"unknown file_type {self.file_type!r}; use one of {sorted(kinds)}")
        object.__setattr__(self, "mode", check_mode(self.mode))
        if not isinstance(self.per_file, bool):
            raise TypeError(f"per_file must be a bool, got {type(self.per_file).__name__}")


async def search(
    store: RAGStoreProtocol, embedder: Callable[[], Awaitable[Embedder]], query: Query
) -> list[SearchResult]:
    """The ``query.top_k`` chunks of ``store`` that best answer ``query``, best first (see the module).
    ``embedder`` loads the embedder when the mode needs vectors."""
    kind = None if query.file_type is None else str(query.file_type)
    wanted = query.top_k * PER_FILE_FACTOR if query.per_file else query.top_k
    depth = wanted if query.mode != "hybrid" else max(wanted, FUSION_DEPTH)
    vector_hits: list[tuple[int, float]] = []
    keyword_hits: list[tuple[int, float]] = []
    if query.mode != "keyword":
        vector_hits = await _vector_hits(store, await embedder(), query.text, depth, kind, query.exact)
    if query.mode != "vector":
        keyword_hits = await asyncio.to_thread(_keyword_hits, store, query.text, depth, kind)
    if query.mode == "hybrid":
        fused = reciprocal_rank_fusion([[c for c, _ in vector_hits], [c for c, _ in keyword_hits]])
        best = 2.0 / (RRF_K + 1)  # first in both rankings
        hits = [(cid, min(1.0, score / best)) for cid, score in fused]
    else:
        hits = vector_hits or keyword_hits
    hits = hits[:wanted]
    rows = await asyncio.to_thread(store.chunks, [cid for cid, _ in hits])
    results = [
        SearchResult(
            r.path,
            r.text,
            float(score),
            r.page,
            r.section,
            r.file_type,
            r.relpath,
            r.id,
            r.document_id,
            r.start_line,
            r.end_line,
        )
        for cid, score in hits
        if (r := rows.get(cid)) is not None
    ]
    return best_per_file(results, query.top_k) if query.per_file else results[: query.top_k]


def _keyword_hits(
    store: RAGStoreProtocol, text: str, depth: int, file_type: str | None
) -> list[tuple[int, float]]:
    """BM25 hits, those holding the query's identifiers verbatim raised (:func:`boost_identifiers`)."""
    if not query_identifiers(text):
        return store.keyword_search(text, depth, file_type)
    hits = store.keyword_search(text, max(depth, FUSION_DEPTH), file_type)  # re-ranked: look deeper
    boosted = boost_identifiers(
        text, hits, lambda ids: {cid: row.text for cid, row in store.chunks(ids).items()}
    )
    return boosted[:depth]


async def _vector_hits(
    store: RAGStoreProtocol,
    embedder: Embedder,
    text: str,
    depth: int,
    file_type: str | None,
    exact: bool = False,
) -> list[tuple[int, float]]:
    """``(chunk id, cosine)`` of the ``depth`` nearest chunks, best first."""
    name = embedder_id(embedder)
    await asyncio.to_thread(store.check_embedder, name)
    query_vec = np.asarray(await embedder.aembed([text]), dtype=np.float32)[0]
    return await asyncio.to_thread(
        lambda: store.vector_search(name, query_vec, depth, file_type, exact=exact)
    )
