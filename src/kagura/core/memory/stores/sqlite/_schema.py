"""The RAG store's numbered schema migrations (applied in order, recorded as the ``"rag"`` namespace).

Tables: ``documents`` (one row per indexed file, keyed by absolute path), ``chunks`` (text + page/section/
file type + ``chunk_hash``), ``vectors`` (one float32 BLOB per chunk, with the embedder that made it),
``manifest`` (per path: content hash + extractor/prompt/model/embedder/chunking versions that produced the
document), ``fts`` (an FTS5 keyword index: one row per chunk, ``rowid`` = chunk id, over the chunk text,
the file's relative path and name, and the section/symbol) and ``meta`` (``key -> value``; ``embedder``
names the embedder every vector of the store was made by). Deleting a document cascades to its chunks,
vectors and manifest row, and a trigger removes the deleted chunks from ``fts``.

Migration 3 adds ``start_line``/``end_line`` to ``chunks``: the 1-based lines of the file a chunk spans.

``chunk_hash`` is ``sha256(embedder id + NUL + the text embedded)``: an edited file finds the vectors of its
unchanged chunks by hash and embeds only the new ones. Rows written before migration 2 have no hash (their
files are re-chunked on the next ingest anyway, since the chunking version changed).
"""

from __future__ import annotations

import sqlite3

from kagura._sqlite import Migration, split_sql
from kagura.core.memory.stores._file_kinds import keyword_name

__all__ = ["RAG_MIGRATIONS"]

_V2_SQL = """
ALTER TABLE rag_chunks ADD COLUMN chunk_hash TEXT;
CREATE INDEX IF NOT EXISTS rag_chunks_hash ON rag_chunks(chunk_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS rag_fts USING fts5(
    text, relpath, name, section, tokenize = 'porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS rag_chunks_fts_delete AFTER DELETE ON rag_chunks BEGIN
    DELETE FROM rag_fts WHERE rowid = old.id;
END;
CREATE TABLE IF NOT EXISTS rag_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _v2_hashes_keyword_index_meta(conn: sqlite3.Connection) -> None:
    """2: chunk hashes, the FTS5 keyword index (filled from the stored chunks), the store's embedder."""
    for statement in split_sql(_V2_SQL):
        conn.execute(statement)
    rows = conn.execute(
        "SELECT c.id, c.text, d.relpath, c.section FROM rag_chunks c"
        " JOIN rag_documents d ON d.id = c.document_id"
    )
    conn.executemany(
        "INSERT INTO rag_fts (rowid, text, relpath, name, section) VALUES (?, ?, ?, ?, ?)",
        ((cid, text, relpath, keyword_name(relpath), section) for cid, text, relpath, section in rows),
    )
    embedders = [row[0] for row in conn.execute("SELECT DISTINCT embedder FROM rag_vectors")]
    if len(embedders) == 1:
        conn.execute("INSERT INTO rag_meta (key, value) VALUES ('embedder', ?)", (embedders[0],))


RAG_MIGRATIONS: tuple[Migration, ...] = (
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
    _v2_hashes_keyword_index_meta,
    # 3: the file lines each chunk spans (NULL for rows written before, and where lines mean nothing)
    """
    ALTER TABLE rag_chunks ADD COLUMN start_line INTEGER;
    ALTER TABLE rag_chunks ADD COLUMN end_line INTEGER;
    """,
)
