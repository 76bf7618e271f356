"""``PostgresRAGStore``: the RAG store on PostgreSQL + pgvector, with the SQLite store's methods and rows.

Writes: one transaction per file, like SQLite. A transaction-level advisory lock on the file's path
serialises two workers (on any hosts) writing the same file, and ``rag_documents.path`` is unique, so a
file is never stored twice and neither write is lost half-way: the second replaces the first whole. The
store's embedder (and its dimension) is recorded once, under an advisory lock, when the first vector is
written; the HNSW index is built then.

Reads: vector search is pgvector's HNSW (cosine) with ``hnsw.ef_search`` set per query, or a sequential scan
when ``exact=True`` (to measure recall) or when a ``file_type`` filter is given (an HNSW scan filters *after*
the index, which could return fewer than ``k``); keyword search ranks exactly like the SQLite store's
FTS5 ``bm25()`` (the same tokens, phrases, statistics and formula: see ``_bm25``). Both return
``(chunk id, score)``; ``MultimodalRAG`` fuses them with the same reciprocal rank fusion as for SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kagura._checks import check_int, check_seconds
from kagura._redact import redact_url
from kagura.core.memory._report import Document
from kagura.core.memory.stores._rows import (
    ChunkRow,
    ManifestEntry,
    NewDocument,
    StoredDocument,
    WorkerAccess,
    checked_rows,
)
from kagura.core.memory.stores.postgres._bm25 import (
    KEYWORD_COLUMNS,
    KEYWORD_VALUES,
    keyword_search,
    keyword_values,
    path_tokens,
)
from kagura.core.memory.stores.postgres._claims import PostgresClaims
from kagura.core.memory.stores.postgres._connect import (
    CONNECT_TIMEOUT,
    Reachability,
    open_migrated,
    transaction,
)
from kagura.core.memory.stores.postgres._export import as_array, read_document
from kagura.core.memory.stores.postgres._schema import RAG_MIGRATIONS
from kagura.core.memory.stores.postgres._search import vector_search
from kagura.errors import StoreError

__all__ = ["HNSWParams", "PostgresRAGStore"]

_META_LOCK = 0x6B61677572610002  # advisory lock key held while recording the store's embedder


@dataclass(frozen=True, slots=True)
class HNSWParams:
    """pgvector HNSW knobs. ``m`` (links per node) and ``ef_construction`` (build-time candidate list) are
    fixed when the index is built; ``ef_search`` (query-time candidate list, >= k) trades speed for recall
    per query (pgvector's own default is 40; ``kagura bench store`` measures recall and latency for 40 to
    400)."""

    m: int = 16
    ef_construction: int = 64
    ef_search: int = 400

    def __post_init__(self) -> None:
        for name in ("m", "ef_construction", "ef_search"):
            value = getattr(self, name)
            check_int(f"HNSW {name}", value, 2)


def _under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/")


def _metadata_json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, default=str, sort_keys=True)


class PostgresRAGStore:
    """Blocking access to the RAG tables of one PostgreSQL database (thread-safe: a connection pool)."""

    def __init__(
        self,
        url: str,
        *,
        hnsw: HNSWParams | None = None,
        pool_size: int = 4,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        check_seconds("connect_timeout", connect_timeout, allow_zero=False)
        check_int("pool_size", pool_size)
        self.url = url
        self.hnsw = hnsw or HNSWParams()
        self.connect_timeout = float(connect_timeout)
        self._reachability = Reachability()
        self._pool = open_migrated(url, RAG_MIGRATIONS, namespace="rag", max_size=pool_size)

    @property
    def location(self) -> str:
        return redact_url(self.url)

    def close(self) -> None:
        self._pool.close()

    def open_claims(self) -> PostgresClaims:
        """The description claims in this database, on a pool of their own."""
        return PostgresClaims(self.url)

    def worker_access(self) -> WorkerAccess:
        """A server: a worker on any host opens the store itself at its URL."""
        return WorkerAccess(self.url, shared=True)

    def claims(self) -> PostgresClaims:
        """The description claims of this database, on this store's connections (a Ray worker keeps
        one connection for both); closing the store closes them."""
        return PostgresClaims(self.url, pool=self._pool)

    def _tx(self, doing: str) -> Any:
        return transaction(
            self._pool, self.url, doing, connect_timeout=self.connect_timeout, reachability=self._reachability
        )

    # -- manifest -----------------------------------------------------------------------------------

    def manifest_under(self, root: str) -> dict[str, ManifestEntry]:
        with self._tx("read the manifest") as conn:
            rows = conn.execute(
                "SELECT path, content_hash, file_type, extractor_version, prompt_version, model, embedder,"
                " chunking FROM rag_manifest"
            ).fetchall()
        return {row[0]: ManifestEntry(*row[1:]) for row in rows if _under(row[0], root)}

    def paths_under(self, root: str) -> list[str]:
        with self._tx("list documents") as conn:
            rows = conn.execute("SELECT path FROM rag_documents").fetchall()
        return [row[0] for row in rows if _under(row[0], root)]

    # -- the store's embedder -------------------------------------------------------------------------

    def _meta(self, conn: Any) -> dict[str, str]:
        return {k: v for k, v in conn.execute("SELECT key, value FROM rag_meta").fetchall()}

    def _claim_embedder(self, conn: Any, embedder: str, dim: int) -> None:
        """Record ``embedder`` (and the vector dimension, with its HNSW index) as the store's, or raise
        StoreError if vectors of another one are stored. Call inside the write transaction."""
        meta = self._meta(conn)
        if meta.get("embedder") == embedder and meta.get("dim") == str(dim):
            return
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_META_LOCK,))
        meta = self._meta(conn)
        if meta.get("embedder") == embedder and meta.get("dim") == str(dim):
            return
        other = conn.execute("SELECT embedder FROM rag_vectors LIMIT 1").fetchone()
        if other is not None:
            raise _mixed_embedders(self.location, str(meta.get("embedder", other[0])), embedder)
        conn.execute("DROP INDEX IF EXISTS rag_vectors_hnsw")
        conn.execute(f"ALTER TABLE rag_vectors ALTER COLUMN embedding TYPE vector({int(dim)})".encode())
        self._create_index(conn)
        for key, value in (("embedder", embedder), ("dim", str(dim))):
            conn.execute(
                "INSERT INTO rag_meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _create_index(self, conn: Any) -> None:
        conn.execute(
            "CREATE INDEX IF NOT EXISTS rag_vectors_hnsw ON rag_vectors"
            " USING hnsw (embedding vector_cosine_ops)"
            f" WITH (m = {int(self.hnsw.m)}, ef_construction = {int(self.hnsw.ef_construction)})".encode()
        )

    def rebuild_index(
        self, *, maintenance_work_mem: str | None = None, parallel_workers: int | None = None
    ) -> None:
        """Drop and build the HNSW index again (after a bulk load, or to apply a new ``m`` or
        ``ef_construction``)."""
        with self._tx("build the HNSW index") as conn:
            if maintenance_work_mem is not None:
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (maintenance_work_mem,))
            if parallel_workers is not None:
                conn.execute(
                    "SELECT set_config('max_parallel_maintenance_workers', %s, true)",
                    (str(int(parallel_workers)),),
                )
            conn.execute("DROP INDEX IF EXISTS rag_vectors_hnsw")
            if self._meta(conn).get("dim"):
                self._create_index(conn)

    def embedder(self) -> str | None:
        with self._tx("read the store's embedder") as conn:
            if conn.execute("SELECT 1 FROM rag_vectors LIMIT 1").fetchone() is None:
                return None
            return self._meta(conn).get("embedder")

    def check_embedder(self, embedder: str) -> None:
        current = self.embedder()
        if current is not None and current != embedder:
            raise _mixed_embedders(self.location, current, embedder)

    # -- writes -------------------------------------------------------------------------------------

    def replace_document(self, doc: NewDocument, vectors: np.ndarray, embedder: str) -> int:
        """Store ``doc`` in one transaction, replacing whatever was stored for its path. Returns its id."""
        vecs, hashes = checked_rows(doc, vectors)
        m = doc.manifest
        with self._tx(f"store {doc.path}") as conn:
            if len(vecs):
                self._claim_embedder(conn, embedder, int(vecs.shape[1]))
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (doc.path,))
            conn.execute("DELETE FROM rag_documents WHERE path = %s", (doc.path,))
            row = conn.execute(
                "INSERT INTO rag_documents (path, root, relpath, file_type, mime_type, content_hash, size,"
                " described, metadata, indexed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)"
                " RETURNING id",
                (doc.path, doc.root, doc.relpath, m.file_type, doc.mime_type, m.content_hash, doc.size,
                 bool(doc.described), _metadata_json(doc.metadata), time.time()),
            ).fetchone()  # fmt: skip
            doc_id = int(row[0])
            paths = path_tokens(doc.relpath)
            with conn.cursor() as cur:
                for chunk, vec, digest in zip(doc.chunks, vecs, hashes, strict=True):
                    cur.execute(
                        "INSERT INTO rag_chunks (document_id, ordinal, text, page, section, file_type,"
                        f" chunk_hash, start_line, end_line, {', '.join(KEYWORD_COLUMNS)}, kw_tf, kw_len)"
                        f" VALUES ({', '.join(['%s'] * 9)}, {KEYWORD_VALUES}) RETURNING id".encode(),
                        (doc_id, chunk.ordinal, chunk.text, chunk.page, chunk.section, m.file_type, digest,
                         chunk.start_line, chunk.end_line, *keyword_values(chunk.text, chunk.section, paths)),
                    )  # fmt: skip
                    chunk_row = cur.fetchone()
                    assert chunk_row is not None
                    cur.execute(
                        "INSERT INTO rag_vectors (chunk_id, embedder, file_type, embedding)"
                        " VALUES (%s, %s, %s, %s)",
                        (chunk_row[0], embedder, m.file_type, vec),
                    )
            conn.execute(
                "INSERT INTO rag_manifest (path, document_id, content_hash, file_type, extractor_version,"
                " prompt_version, model, embedder, chunking) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (doc.path, doc_id, m.content_hash, m.file_type, m.extractor_version, m.prompt_version,
                 m.model, m.embedder, m.chunking),
            )  # fmt: skip
        return doc_id

    def vectors_for_hashes(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        if not wanted:
            return found
        with self._tx("read vectors by chunk hash") as conn:
            rows = conn.execute(
                "SELECT c.chunk_hash, v.embedding FROM rag_chunks c JOIN rag_vectors v ON v.chunk_id = c.id"
                " WHERE c.chunk_hash = ANY(%s) ORDER BY c.id",
                (wanted,),
            ).fetchall()
        for digest, vec in rows:
            found.setdefault(digest, as_array(vec))
        return found

    def delete_documents(self, paths: Iterable[str]) -> int:
        paths = list(paths)
        if not paths:
            return 0
        with self._tx("delete documents") as conn:
            cur = conn.execute("DELETE FROM rag_documents WHERE path = ANY(%s)", (paths,))
            return int(cur.rowcount)

    # -- reads --------------------------------------------------------------------------------------

    def documents_under(self, root: str) -> list[Document]:
        with self._tx("list documents") as conn:
            rows = conn.execute(
                "SELECT d.id, d.path, d.relpath, d.file_type, d.mime_type, d.content_hash, d.size,"
                " (SELECT COUNT(*) FROM rag_chunks c WHERE c.document_id = d.id), d.described, d.metadata"
                ' FROM rag_documents d ORDER BY d.path COLLATE "C"'
            ).fetchall()
        return [
            Document(*row[:8], described=bool(row[8]), metadata=dict(row[9]))
            for row in rows
            if _under(row[1], root)
        ]

    def counts(self) -> dict[str, int]:
        with self._tx("count rows") as conn:
            return {
                table: int(conn.execute(f"SELECT COUNT(*) FROM rag_{table}".encode()).fetchone()[0])
                for table in ("documents", "chunks", "vectors", "manifest")
            }

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        with self._tx("read chunks") as conn:
            rows = conn.execute(
                "SELECT c.id, c.document_id, c.text, c.page, c.section, c.file_type, d.path, d.relpath,"
                " c.start_line, c.end_line"
                " FROM rag_chunks c JOIN rag_documents d ON d.id = c.document_id WHERE c.id = ANY(%s)",
                ([int(i) for i in ids],),
            ).fetchall()
        return {int(row[0]): ChunkRow(*row) for row in rows}

    def keyword_search(self, text: str, limit: int, file_type: str | None = None) -> list[tuple[int, float]]:
        with self._tx("search keywords") as conn:
            return keyword_search(conn, text, limit, file_type)

    def vector_search(
        self, embedder: str, query: np.ndarray, k: int, file_type: str | None = None, *, exact: bool = False
    ) -> list[tuple[int, float]]:
        with self._tx("search vectors") as conn:
            return vector_search(conn, query, k, file_type, exact=exact, ef_search=self.hnsw.ef_search)

    def export_documents(self) -> Iterator[StoredDocument]:
        """Every stored document with its vectors, by path (one document read at a time)."""
        with self._tx("list documents") as conn:
            paths = [r[0] for r in conn.execute('SELECT path FROM rag_documents ORDER BY path COLLATE "C"')]
        for path in paths:
            with self._tx(f"read {path}") as conn:
                stored = read_document(conn, path)
            if stored is not None:
                yield stored


def _mixed_embedders(location: str, stored: str, wanted: str) -> StoreError:
    return StoreError(
        f"the store {location} holds vectors made by the embedder {stored!r}, not {wanted!r}: vectors of two "
        "embedders cannot be compared. Use the same embedder (kagura --embedder) or index into another"
        " --store."
    )
