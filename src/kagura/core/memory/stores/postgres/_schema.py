"""The PostgreSQL RAG schema: the SQLite store's tables, with pgvector and a ``tsvector`` keyword index.

Namespace ``"rag"`` (the same name as in SQLite; numbering is per database kind). ``rag_vectors.embedding``
is a ``vector`` column; its dimension is fixed when the first vector is written (``ALTER ... TYPE
vector(d)`` on the empty table) and the HNSW cosine index is built then, since pgvector needs a dimension to
index. ``rag_chunks.tsv`` holds the keyword index of a chunk: its text (weight D), relative path and
section/symbol (C) and file name (B), English stemming, indexed with GIN. ``rag_claims`` (namespace
``"rag-claims"``) holds the description claims.
"""

from __future__ import annotations

__all__ = ["CLAIM_MIGRATIONS", "RAG_MIGRATIONS", "TURN_MIGRATIONS"]

RAG_MIGRATIONS: tuple[str, ...] = (
    # 1: documents, chunks (+ hash, tsvector), vectors, manifest, meta
    """
    CREATE TABLE IF NOT EXISTS rag_documents (
        id BIGSERIAL PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        root TEXT NOT NULL,
        relpath TEXT NOT NULL,
        file_type TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        size BIGINT NOT NULL,
        described BOOLEAN NOT NULL DEFAULT FALSE,
        metadata JSONB NOT NULL DEFAULT '{}',
        indexed_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rag_chunks (
        id BIGSERIAL PRIMARY KEY,
        document_id BIGINT NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        text TEXT NOT NULL,
        page INTEGER,
        section TEXT,
        file_type TEXT NOT NULL,
        chunk_hash TEXT,
        tsv TSVECTOR NOT NULL DEFAULT ''::tsvector
    );
    CREATE INDEX IF NOT EXISTS rag_chunks_document ON rag_chunks(document_id);
    CREATE INDEX IF NOT EXISTS rag_chunks_hash ON rag_chunks(chunk_hash);
    CREATE INDEX IF NOT EXISTS rag_chunks_tsv ON rag_chunks USING GIN (tsv);
    CREATE TABLE IF NOT EXISTS rag_vectors (
        chunk_id BIGINT PRIMARY KEY REFERENCES rag_chunks(id) ON DELETE CASCADE,
        embedder TEXT NOT NULL,
        file_type TEXT NOT NULL,
        embedding vector NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rag_manifest (
        path TEXT PRIMARY KEY,
        document_id BIGINT NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
        content_hash TEXT NOT NULL,
        file_type TEXT NOT NULL,
        extractor_version TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        model TEXT NOT NULL,
        embedder TEXT NOT NULL,
        chunking TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rag_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)

CLAIM_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS rag_claims (
        path TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    """,
)

TURN_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS turns (
        id BIGSERIAL PRIMARY KEY,
        session_id TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        agent TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX IF NOT EXISTS turns_by_session ON turns (session_id, id);
    CREATE TABLE IF NOT EXISTS turn_vectors (
        turn_id BIGINT NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BYTEA NOT NULL,
        PRIMARY KEY (turn_id, model)
    );
    """,
)
