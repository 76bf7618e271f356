"""Synthetic embeddings for ``kagura bench store``, and bulk loading them into each store.

Real sentence embeddings are not uniform noise: they lie near a low-dimensional surface, in topics. The
synthetic ones here are the same: a topic centre plus a point of a 24-dimensional latent space projected to
``dim`` dimensions, plus a little isotropic noise, normalised. (Uniform random vectors in 384 dimensions
have no near neighbours at all, which measures nothing an index is for.)

PostgreSQL is loaded the way a bulk import should be: ``COPY ... FORMAT BINARY`` with the HNSW index dropped,
then the index built once at the end (``maintenance_work_mem`` large, one parallel worker: the machine is
shared). SQLite gets the same rows through ``RAGStore.replace_document`` in documents of 1,000 chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores._rows import ManifestEntry, NewDocument

__all__ = ["EMBEDDER", "copy_into_postgres", "load_sqlite", "synthetic"]

EMBEDDER = "bench-synthetic"
_DOC = 1000


def synthetic(n: int, dim: int = 384, *, seed: int = 0, topics: int = 500) -> np.ndarray:
    """``n`` unit vectors of ``dim`` float32 (deterministic for a seed), built block by block."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    projection = rng.normal(size=(24, dim)).astype(np.float32) / np.sqrt(24)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        block = (
            0.6 * centres[rng.integers(0, topics, m)]
            + rng.normal(size=(m, 24)).astype(np.float32) @ projection
            + 0.15 * rng.normal(size=(m, dim)).astype(np.float32)
        )
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _document(i: int, n: int) -> NewDocument:
    manifest = ManifestEntry(f"h{i}", "text", "1", "", "", EMBEDDER, "bench")
    chunks = [ChunkPiece(f"synthetic {i}/{j}", j) for j in range(n)]
    return NewDocument(
        f"/bench/d{i:06}.txt", "/bench", f"d{i:06}.txt", "text/plain", n, False, {}, manifest, chunks
    )


def _documents(vectors: np.ndarray) -> Iterator[tuple[NewDocument, np.ndarray]]:
    for i, start in enumerate(range(0, len(vectors), _DOC)):
        block = vectors[start : start + _DOC]
        yield _document(i, len(block)), block


def load_sqlite(store: Any, vectors: np.ndarray) -> list[int]:
    """Write ``vectors`` into an SQLite RAGStore; return the chunk id of each row."""
    ids: list[int] = []
    for doc, block in _documents(vectors):
        store.replace_document(doc, block, EMBEDDER)
    hits = store.vector_search(EMBEDDER, vectors[0], len(vectors), exact=True)
    ids = sorted(cid for cid, _ in hits)
    return ids


def copy_into_postgres(
    store: Any, vectors: np.ndarray, *, maintenance_work_mem: str | None = None
) -> tuple[list[int], float]:
    """Bulk-load ``vectors`` into a PostgresRAGStore (index dropped, COPY BINARY, index built after).
    Returns the chunk id of each row and the seconds the index build took.

    ``maintenance_work_mem`` defaults to what the whole HNSW graph needs in memory (about 3 kB per
    384-d row, at least 1 GB): pgvector builds on disk, several times slower, past that."""
    import time

    if maintenance_work_mem is None:
        maintenance_work_mem = f"{max(1, -(-len(vectors) * 3 // 1_000_000))}GB"

    first_doc, first_block = next(_documents(vectors[:1]))
    store.replace_document(first_doc, first_block, EMBEDDER)  # records embedder + dimension, makes the index
    with store._tx("bulk load") as conn:
        conn.execute("DROP INDEX IF EXISTS rag_vectors_hnsw")
        doc_id = conn.execute(
            "INSERT INTO rag_documents (path, root, relpath, file_type, mime_type, content_hash, size,"
            " indexed_at)"
            " VALUES ('/bench/all.bin', '/bench', 'all.bin', 'text', 'application/octet-stream', 'x', 0, 0)"
            " RETURNING id"
        ).fetchone()[0]
        base = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM rag_chunks").fetchone()[0])
        with conn.cursor().copy(
            "COPY rag_chunks (id, document_id, ordinal, text, file_type) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "int4", "text", "text"])
            for i in range(len(vectors)):
                copy.write_row((base + i, doc_id, i, "", "text"))
        with conn.cursor().copy(
            "COPY rag_vectors (chunk_id, embedder, file_type, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "text", "text", "vector"])
            for i, vec in enumerate(vectors):
                copy.write_row((base + i, EMBEDDER, "text", vec))
        conn.execute("SELECT setval(pg_get_serial_sequence('rag_chunks', 'id'), %s)", (base + len(vectors),))
        conn.execute("DELETE FROM rag_documents WHERE path = %s", (first_doc.path,))
    with store._tx("analyze") as conn:
        conn.execute("ANALYZE rag_vectors")
    started = time.perf_counter()
    store.rebuild_index(maintenance_work_mem=maintenance_work_mem, parallel_workers=1)
    return list(range(base, base + len(vectors))), time.perf_counter() - started
