"""Searches on the PostgreSQL RAG tables: keyword (``tsvector``, ``ts_rank``) and vector (pgvector cosine).

Both return ``(chunk id, score)`` best first, higher is better, with equal scores ordered by chunk id like
the SQLite store, so ``MultimodalRAG`` fuses the two rankings with the same code for either store.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kagura.core.memory._keywords import keyword_words

__all__ = ["keyword_search", "vector_search"]

# ts_rank weights for {D, C, B, A}: text (D) 1, relative path and section/symbol (C) 2, file name (B) 3,
# in the proportions of the SQLite store's BM25 column weights.
_WEIGHTS = [0.25, 0.5, 0.75, 1.0]


def keyword_search(conn: Any, text: str, limit: int, file_type: str | None) -> list[tuple[int, float]]:
    """The ``limit`` chunks matching any word of ``text`` (English stemming), best ``ts_rank`` first."""
    words = keyword_words(text)
    if not words:
        return []
    # websearch_to_tsquery never raises on odd input; "or" between the words matches any of them.
    query = " or ".join(words)
    sql = (
        "SELECT c.id, ts_rank(%s::real[], c.tsv, q) AS r FROM rag_chunks c,"
        " websearch_to_tsquery('english', %s) q WHERE c.tsv @@ q"
        + (" AND c.file_type = %s" if file_type is not None else "")
        + " ORDER BY r DESC, c.id LIMIT %s"
    )
    params: list[Any] = [_WEIGHTS, query] + ([file_type] if file_type is not None else []) + [int(limit)]
    rows = conn.execute(sql.encode(), params).fetchall()
    return [(int(cid), float(rank)) for cid, rank in rows]


def vector_search(
    conn: Any, query: np.ndarray, k: int, file_type: str | None, *, exact: bool, ef_search: int
) -> list[tuple[int, float]]:
    """The ``k`` nearest chunks by cosine. HNSW unless ``exact`` or ``file_type`` (then a sequential scan,
    which never misses a neighbour and never returns fewer than ``k`` when ``k`` rows match)."""
    vec = np.asarray(query, dtype=np.float32).reshape(-1)
    if exact or file_type is not None:
        conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
    else:
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(int(ef_search), int(k))),))
    sql = (
        "SELECT chunk_id, 1 - (embedding <=> %s) AS score FROM rag_vectors"
        + (" WHERE file_type = %s" if file_type is not None else "")
        + " ORDER BY embedding <=> %s LIMIT %s"
    )
    params: list[Any] = [vec] + ([file_type] if file_type is not None else []) + [vec, int(k)]
    # Never a prepared statement: a cached plan would keep the index (or the scan) whatever the settings.
    rows = conn.execute(sql.encode(), params, prepare=False).fetchall()
    hits = [(int(cid), float(score)) for cid, score in rows]
    hits.sort(key=lambda pair: (-pair[1], pair[0]))  # the index orders by distance only
    return hits
