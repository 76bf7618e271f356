"""Read the SQLite RAG store back as whole documents with their vectors (``kagura store migrate``)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator

from kagura.core.memory.stores._rows import ChunkPiece, ManifestEntry, NewDocument, StoredDocument
from kagura.core.memory.stores._vectors import unpack_vectors

__all__ = ["export_documents"]


def export_documents(conn: sqlite3.Connection, lock: threading.RLock) -> Iterator[StoredDocument]:
    """Every document of the store by path, read one at a time under ``lock``."""
    with lock:
        paths = [row[0] for row in conn.execute("SELECT path FROM rag_documents ORDER BY path")]
    for path in paths:
        with lock:
            doc = conn.execute(
                "SELECT d.id, d.root, d.relpath, d.mime_type, d.size, d.described, d.metadata,"
                " m.content_hash, m.file_type, m.extractor_version, m.prompt_version, m.model, m.embedder,"
                " m.chunking FROM rag_documents d JOIN rag_manifest m ON m.document_id = d.id"
                " WHERE d.path = ?",
                (path,),
            ).fetchone()
            if doc is None:
                continue
            rows = conn.execute(
                "SELECT c.text, c.ordinal, c.page, c.section, c.chunk_hash, v.embedder, v.dim, v.vector,"
                " c.start_line, c.end_line"
                " FROM rag_chunks c JOIN rag_vectors v ON v.chunk_id = c.id WHERE c.document_id = ?"
                " ORDER BY c.id",
                (doc[0],),
            ).fetchall()
        hashes = [r[4] for r in rows]
        new = NewDocument(
            path=path, root=doc[1], relpath=doc[2], mime_type=doc[3], size=int(doc[4]),
            described=bool(doc[5]), metadata=json.loads(doc[6]), manifest=ManifestEntry(*doc[7:14]),
            chunks=[ChunkPiece(r[0], r[1], r[2], r[3], r[8], r[9]) for r in rows],
            chunk_hashes=hashes if all(h is not None for h in hashes) else (),
        )  # fmt: skip
        dim = int(rows[0][6]) if rows else 1
        vectors = unpack_vectors([r[7] for r in rows], dim)
        yield StoredDocument(new, vectors, str(rows[0][5]) if rows else str(doc[12]))
