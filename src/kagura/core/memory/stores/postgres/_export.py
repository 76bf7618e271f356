"""Reading a stored document of the PostgreSQL RAG store back whole, with its vectors (``kagura store
migrate``), and pgvector values as numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from kagura.core.memory._store import ManifestEntry, NewDocument
from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores._protocol import StoredDocument

__all__ = ["as_array", "read_document"]


def as_array(value: Any) -> np.ndarray:
    """A stored vector as float32 numpy (pgvector's loader gives numpy or ``Vector`` by wire format)."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy is not None else value, dtype=np.float32)


def read_document(conn: Any, path: str) -> StoredDocument | None:
    doc = conn.execute(
        "SELECT d.id, d.root, d.relpath, d.mime_type, d.size, d.described, d.metadata, m.content_hash,"
        " m.file_type, m.extractor_version, m.prompt_version, m.model, m.embedder, m.chunking"
        " FROM rag_documents d JOIN rag_manifest m ON m.document_id = d.id WHERE d.path = %s",
        (path,),
    ).fetchone()
    if doc is None:
        return None
    rows = conn.execute(
        "SELECT c.text, c.ordinal, c.page, c.section, c.chunk_hash, v.embedder, v.embedding, c.start_line,"
        " c.end_line FROM rag_chunks c"
        " JOIN rag_vectors v ON v.chunk_id = c.id WHERE c.document_id = %s ORDER BY c.id",
        (doc[0],),
    ).fetchall()
    hashes = [r[4] for r in rows]
    new = NewDocument(
        path=path, root=doc[1], relpath=doc[2], mime_type=doc[3], size=int(doc[4]), described=bool(doc[5]),
        metadata=dict(doc[6]), manifest=ManifestEntry(*doc[7:14]),
        chunks=[ChunkPiece(r[0], r[1], r[2], r[3], r[7], r[8]) for r in rows],
        chunk_hashes=hashes if all(h is not None for h in hashes) else (),
    )  # fmt: skip
    dim = len(as_array(rows[0][6])) if rows else 0
    vectors = np.array([as_array(r[6]) for r in rows], dtype=np.float32).reshape(len(rows), dim)
    return StoredDocument(new, vectors, rows[0][5] if rows else str(doc[12]))
