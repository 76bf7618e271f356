"""Vector search on the PostgreSQL RAG tables (pgvector cosine); keyword search is in ``_bm25``.

Both return ``(chunk id, score)`` best first, higher is better, with equal scores ordered by chunk id like
the SQLite store, so ``MultimodalRAG`` fuses the two rankings with the same code for either store.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["vector_search"]


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
