"""The RAG store's numbered schema migrations (applied in order, recorded as the ``"rag"`` namespace).

Tables: ``documents`` (one row per indexed file, keyed by absolute path), ``chunks`` (text + page/section/
file type), ``vectors`` (one float32 BLOB per chunk, with the embedder that made it) and ``manifest``
(per path: content hash + extractor/prompt/model/embedder/chunking versions that produced the document).
Deleting a document cascades to its chunks, vectors and manifest row.
"""

from __future__ import annotations

__all__ = ["RAG_MIGRATIONS"]

RAG_MIGRATIONS: tuple[str, ...] = (
    # 1: documents, chunks, vectors, manifest
    """
    CREATE TABLE IF NOT EXISTS rag_documents (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        root TEXT NOT NULL,
        relpath TEXT NOT NULL,
        file_type TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        described INTEGER NOT NULL DEFAULT 0,
        metadata TEXT NOT NULL DEFAULT '{}',
        indexed_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rag_chunks (
        id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        text TEXT NOT NULL,
        page INTEGER,
        section TEXT,
        file_type TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS rag_chunks_document ON rag_chunks(document_id);
    CREATE TABLE IF NOT EXISTS rag_vectors (
        chunk_id INTEGER PRIMARY KEY REFERENCES rag_chunks(id) ON DELETE CASCADE,
        embedder TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS rag_vectors_embedder ON rag_vectors(embedder);
    CREATE TABLE IF NOT EXISTS rag_manifest (
        path TEXT PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
        content_hash TEXT NOT NULL,
        file_type TEXT NOT NULL,
        extractor_version TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        model TEXT NOT NULL,
        embedder TEXT NOT NULL,
        chunking TEXT NOT NULL
    );
    """,
)
