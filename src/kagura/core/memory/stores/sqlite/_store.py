"""The RAG store: the ``rag_*`` tables (documents, chunks, float32 vectors, manifest) of an SQLite file (WAL).

Its schema is the ``"rag"`` migration namespace, so the file can be shared with other kagura stores (e.g.
``ConversationMemory`` on the same ``kagura.db``).

Every method is blocking and thread-safe (one connection behind a lock); async callers use
``asyncio.to_thread``. A file is written in one transaction (its old document, chunks and vectors are
replaced together with its manifest row), so a crash or a cancel never leaves a file half-indexed.
The vector matrix is cached in memory and invalidated by any write, ours or another connection's.

Beside the vectors, every chunk is in an FTS5 keyword index (BM25 over its text, the file's path and name,
and its section/symbol), and the store records which embedder made its vectors (``rag_meta``): writing
or searching with another embedder raises :class:`~kagura.errors.StoreError` instead of mixing vectors
that cannot be compared. ``vectors_for_hashes`` lets an edited file reuse the vectors of its unchanged
chunks (see ``chunk_hash`` in ``_schema``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kagura._sqlite import connect, migrate, transaction
from kagura.core.memory._report import Document
from kagura.core.memory.stores._file_kinds import keyword_name
from kagura.core.memory.stores._keywords import keyword_search
from kagura.core.memory.stores._rows import (
    ChunkRow,
    ManifestEntry,
    NewDocument,
    StoredDocument,
    WorkerAccess,
    checked_rows,
)
from kagura.core.memory.stores._vectors import pack_vector, top_k_cosine, unpack_vectors
from kagura.core.memory.stores.sqlite._claims import DescriptionClaims
from kagura.core.memory.stores.sqlite._export import export_documents
from kagura.core.memory.stores.sqlite._schema import RAG_MIGRATIONS
from kagura.errors import StoreError

__all__ = ["RAGStore", "SQLiteRAGStore", "VectorIndex"]


@dataclass(frozen=True, slots=True)
class VectorIndex:
    """All vectors of one embedder, stacked: row i belongs to ``chunk_ids[i]`` of type ``file_types[i]``."""

    matrix: np.ndarray
    chunk_ids: np.ndarray
    file_types: np.ndarray


def _under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip("/") + "/")


class RAGStore:
    """Blocking access to the RAG tables of one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = connect(self.path)
        try:
            migrate(self._conn, RAG_MIGRATIONS, namespace="rag", legacy_probe_table="rag_documents")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"cannot use the RAG store {self.path}: {exc}") from exc
        except StoreError:
            self._conn.close()
            raise
        self._writes = 0
        self._cache: tuple[tuple[str, int, int], VectorIndex] | None = None

    @property
    def location(self) -> str:
        """The store's file path (for messages)."""
        return str(self.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def open_claims(self) -> DescriptionClaims:
        """The description claims in this file, on their own connection."""
        return DescriptionClaims(self.path)

    def worker_access(self) -> WorkerAccess:
        """A file: only this host opens it (workers elsewhere go through this host)."""
        return WorkerAccess(str(self.path), shared=False)

    # -- manifest -----------------------------------------------------------------------------------

    def manifest_under(self, root: str) -> dict[str, ManifestEntry]:
        """Manifest entries of every stored file under ``root``, by absolute path."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT path, content_hash, file_type, extractor_version, prompt_version, model, embedder,"
                " chunking FROM rag_manifest"
            ).fetchall()
        return {row[0]: ManifestEntry(*row[1:]) for row in rows if _under(row[0], root)}

    def paths_under(self, root: str) -> list[str]:
        """Every stored document path under ``root``."""
        with self._lock:
            rows = self._conn.execute("SELECT path FROM rag_documents").fetchall()
        return [row[0] for row in rows if _under(row[0], root)]

    # -- writes -------------------------------------------------------------------------------------

    def _claim_embedder(self, embedder: str) -> None:
        """Record ``embedder`` as the store's, or raise StoreError if vectors of another one are stored.
        Call inside the write transaction."""
        row = self._conn.execute("SELECT value FROM rag_meta WHERE key = 'embedder'").fetchone()
        if row is not None and row[0] == embedder:
            return
        others = [
            r[0]
            for r in self._conn.execute(
                "SELECT DISTINCT embedder FROM rag_vectors WHERE embedder != ?", (embedder,)
            )
        ]
        if others:
            raise _mixed_embedders(self.path, others[0], embedder)
        self._conn.execute(
            "INSERT INTO rag_meta (key, value) VALUES ('embedder', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (embedder,),
        )

    def embedder(self) -> str | None:
        """The embedder every vector of this store was made by (None for a store without vectors)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM rag_meta WHERE key = 'embedder'").fetchone()
            if row is None:
                return None
            if self._conn.execute("SELECT 1 FROM rag_vectors LIMIT 1").fetchone() is None:
                return None
            return str(row[0])

    def check_embedder(self, embedder: str) -> None:
        """Raise StoreError when this store's vectors were made by another embedder than ``embedder``."""
        current = self.embedder()
        if current is not None and current != embedder:
            raise _mixed_embedders(self.path, current, embedder)

    def replace_document(self, doc: NewDocument, vectors: np.ndarray, embedder: str) -> int:
        """Store ``doc`` in one transaction, replacing whatever was stored for its path. Returns its id.

        Raises StoreError when the store holds vectors of another embedder (nothing is written then).
        """
        vecs, hashes = checked_rows(doc, vectors)
        name = keyword_name(doc.relpath)
        m = doc.manifest
        with self._lock, transaction(self._conn):
            self._claim_embedder(embedder)
            self._conn.execute("DELETE FROM rag_documents WHERE path = ?", (doc.path,))
            cur = self._conn.execute(
                "INSERT INTO rag_documents (path, root, relpath, file_type, mime_type, content_hash, size,"
                " described, metadata, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc.path,
                    doc.root,
                    doc.relpath,
                    m.file_type,
                    doc.mime_type,
                    m.content_hash,
                    doc.size,
                    int(doc.described),
                    json.dumps(doc.metadata, default=str, sort_keys=True),
                    time.time(),
                ),
            )
            doc_id = int(cur.lastrowid or 0)
            for chunk, vec, digest in zip(doc.chunks, vecs, hashes, strict=True):
                cur = self._conn.execute(
                    "INSERT INTO rag_chunks (document_id, ordinal, text, page, section, file_type,"
                    " chunk_hash, start_line, end_line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc_id,
                        chunk.ordinal,
                        chunk.text,
                        chunk.page,
                        chunk.section,
                        m.file_type,
                        digest,
                        chunk.start_line,
                        chunk.end_line,
                    ),
                )
                self._conn.execute(
                    "INSERT INTO rag_vectors (chunk_id, embedder, dim, vector) VALUES (?, ?, ?, ?)",
                    (cur.lastrowid, embedder, int(vec.shape[0]), pack_vector(vec)),
                )
                self._conn.execute(
                    "INSERT INTO rag_fts (rowid, text, relpath, name, section) VALUES (?, ?, ?, ?, ?)",
                    (cur.lastrowid, chunk.text, doc.relpath, name, chunk.section),
                )
            self._conn.execute(
                "INSERT INTO rag_manifest (path, document_id, content_hash, file_type, extractor_version,"
                " prompt_version, model, embedder, chunking) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc.path, doc_id, m.content_hash, m.file_type, m.extractor_version, m.prompt_version,
                 m.model, m.embedder, m.chunking),
            )  # fmt: skip
            self._writes += 1
        return doc_id

    def vectors_for_hashes(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors by chunk hash, for the hashes that are stored (any document, any path)."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    "SELECT c.chunk_hash, v.dim, v.vector FROM rag_chunks c JOIN rag_vectors v"
                    f" ON v.chunk_id = c.id WHERE c.chunk_hash IN ({marks})",
                    part,
                ).fetchall()
                for digest, dim, blob in rows:
                    found.setdefault(digest, unpack_vectors([blob], int(dim))[0])
        return found

    def delete_documents(self, paths: Iterable[str]) -> int:
        """Remove the documents (and their chunks, vectors, manifest rows) at ``paths``."""
        paths = list(paths)
        if not paths:
            return 0
        with self._lock, transaction(self._conn):
            deleted = 0
            for path in paths:
                deleted += self._conn.execute("DELETE FROM rag_documents WHERE path = ?", (path,)).rowcount
            self._writes += 1
        return deleted

    # -- reads --------------------------------------------------------------------------------------

    def documents_under(self, root: str) -> list[Document]:
        """The stored documents under ``root``, sorted by path, with their chunk counts."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT d.id, d.path, d.relpath, d.file_type, d.mime_type, d.content_hash, d.size,"
                " (SELECT COUNT(*) FROM rag_chunks c WHERE c.document_id = d.id), d.described, d.metadata"
                " FROM rag_documents d ORDER BY d.path"
            ).fetchall()
        return [
            Document(*row[:8], described=bool(row[8]), metadata=json.loads(row[9]))
            for row in rows
            if _under(row[1], root)
        ]

    def counts(self) -> dict[str, int]:
        """Row counts of documents, chunks and vectors (for reports and tests)."""
        with self._lock:
            return {
                table: int(self._conn.execute(f"SELECT COUNT(*) FROM rag_{table}").fetchone()[0])
                for table in ("documents", "chunks", "vectors", "manifest")
            }

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        """The chunks with these ids, joined with their document's path."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(
                "SELECT c.id, c.document_id, c.text, c.page, c.section, c.file_type, d.path, d.relpath,"
                " c.start_line, c.end_line"
                f" FROM rag_chunks c JOIN rag_documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
                [int(i) for i in ids],
            ).fetchall()
        return {row[0]: ChunkRow(*row) for row in rows}

    def keyword_search(self, text: str, limit: int, file_type: str | None = None) -> list[tuple[int, float]]:
        """The ``limit`` chunks that best match the words of ``text`` by BM25, best first, as
        ``(chunk id, score)`` with higher scores better. ``file_type`` filters before ranking.
        Words match in the chunk text, the file's path and name, and the section/symbol (stemmed)."""
        with self._lock:
            return keyword_search(self._conn, text, limit, file_type)

    def vector_index(self, embedder: str) -> VectorIndex:
        """The stacked vectors of ``embedder``; cached until the next write to the file."""
        with self._lock:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            key = (embedder, self._writes, version)
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            rows = self._conn.execute(
                "SELECT v.chunk_id, v.dim, v.vector, c.file_type FROM rag_vectors v"
                " JOIN rag_chunks c ON c.id = v.chunk_id WHERE v.embedder = ? ORDER BY v.chunk_id",
                (embedder,),
            ).fetchall()
        if rows:
            matrix = unpack_vectors([row[2] for row in rows], int(rows[0][1]))
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        index = VectorIndex(
            matrix=matrix,
            chunk_ids=np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
            file_types=np.array([row[3] for row in rows], dtype=object),
        )
        with self._lock:
            self._cache = (key, index)
        return index

    def vector_search(
        self, embedder: str, query: np.ndarray, k: int, file_type: str | None = None, *, exact: bool = True
    ) -> list[tuple[int, float]]:
        """``(chunk id, cosine)`` of the ``k`` nearest chunks, best first: always exact here (numpy over
        the cached matrix), so ``exact`` changes nothing."""
        index = self.vector_index(embedder)
        if index.matrix.shape[0] == 0:
            return []
        mask = None if file_type is None else index.file_types == file_type
        hits = top_k_cosine(index.matrix, query, k, mask)
        return [(int(index.chunk_ids[row]), score) for row, score in hits]

    def export_documents(self) -> Iterator[StoredDocument]:
        """Every stored document with its vectors, by path (for ``kagura store migrate``)."""
        return export_documents(self._conn, self._lock)


SQLiteRAGStore = RAGStore
"""The name beside ``PostgresRAGStore``."""


def _mixed_embedders(path: Path, stored: str, wanted: str) -> StoreError:
    return StoreError(
        f"the store {path} holds vectors made by the embedder {stored!r}, not {wanted!r}: vectors of two "
        f"embedders cannot be compared. Use the same embedder (kagura --embedder), index into another "
        f"--store, or delete {path} to re-index everything with {wanted!r}."
    )
