"""The PostgreSQL RAG schema: the SQLite store's tables, with pgvector and FTS5's keyword index rebuilt.

Namespace ``"rag"`` (the same name as in SQLite; numbering is per database kind). ``rag_vectors.embedding``
is a ``vector`` column; its dimension is fixed when the first vector is written (``ALTER ... TYPE
vector(d)`` on the empty table) and the HNSW cosine index is built then, since pgvector needs a dimension to
index. Migration 2 replaces the first keyword index (``rag_chunks.tsv``: English stemming, ``ts_rank``)
with the tokens of SQLite's FTS5 index (``kw_*`` arrays, a GIN index, ``rag_kw_stats``; see ``_bm25``), so
both stores rank keywords alike; it tokenizes every stored chunk again from its text. ``rag_claims``
(namespace ``"rag-claims"``) holds the description claims.
"""

from __future__ import annotations

from typing import Any

from kagura.core.memory.stores.postgres._bm25 import rebuild_keywords
from kagura.core.memory.stores.postgres._connect import PgMigration

__all__ = ["CLAIM_MIGRATIONS", "RAG_MIGRATIONS", "TURN_MIGRATIONS"]


def _v2_fts5_keywords(conn: Any) -> None:
    """2: FTS5's tokens per column instead of the English ``tsvector``, filled from the stored chunks."""
    conn.execute(
        b"DROP INDEX IF EXISTS rag_chunks_tsv;"
        b" ALTER TABLE rag_chunks DROP COLUMN IF EXISTS tsv,"
        b" ADD COLUMN kw_text TEXT[] NOT NULL DEFAULT '{}',"
        b" ADD COLUMN kw_relpath TEXT[] NOT NULL DEFAULT '{}',"
        b" ADD COLUMN kw_name TEXT[] NOT NULL DEFAULT '{}',"
        b" ADD COLUMN kw_section TEXT[] NOT NULL DEFAULT '{}',"
        b" ADD COLUMN kw_tf JSONB NOT NULL DEFAULT '{}',"
        b" ADD COLUMN kw_len INTEGER NOT NULL DEFAULT 0"
    )
    rebuild_keywords(conn)


RAG_MIGRATIONS: tuple[PgMigration, ...] = (
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
    _v2_fts5_keywords,
    # 3: the file lines each chunk spans (NULL for rows written before, and where lines mean nothing)
    "ALTER TABLE rag_chunks ADD COLUMN IF NOT EXISTS start_line INTEGER,"
    " ADD COLUMN IF NOT EXISTS end_line INTEGER",
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
