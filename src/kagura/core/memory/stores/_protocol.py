"""What a RAG store is: the blocking methods ``MultimodalRAG`` calls (from worker threads).

Two implementations: :class:`~kagura.core.memory.stores.sqlite.SQLiteRAGStore` (one SQLite file, the
default) and :class:`~kagura.core.memory.stores.postgres.PostgresRAGStore` (PostgreSQL + pgvector). Both
keep the same rows (documents, chunks with their hashes, vectors, manifest, keyword index, the store's
embedder), so ``kagura store migrate`` can copy one into the other without embedding anything again, and the
same test suite runs against both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kagura.core.memory.stores._rows import (
    ChunkRow,
    ClaimOwner,
    ManifestEntry,
    NewDocument,
    StoredDocument,
    TurnRow,
    WorkerAccess,
)

if TYPE_CHECKING:
    import numpy as np

    from kagura.core.memory._report import Document

__all__ = [
    "DescriptionClaimsProtocol",
    "RAGStoreProtocol",
    "SqlDatabase",
    "StoredDocument",
    "TurnStoreProtocol",
]


@runtime_checkable
class RAGStoreProtocol(Protocol):
    """The blocking store interface (thread-safe; async callers use ``asyncio.to_thread``)."""

    @property
    def location(self) -> str:
        """The store's path or its URL without password, for messages."""
        ...

    def close(self) -> None: ...

    def open_claims(self) -> DescriptionClaimsProtocol:
        """The description claims of this store, on connections of their own (close them apart)."""
        ...

    def worker_access(self) -> WorkerAccess:
        """How worker processes on this or other hosts reach this store."""
        ...

    def manifest_under(self, root: str) -> dict[str, ManifestEntry]: ...

    def paths_under(self, root: str) -> list[str]: ...

    def embedder(self) -> str | None: ...

    def check_embedder(self, embedder: str) -> None: ...

    def replace_document(self, doc: NewDocument, vectors: np.ndarray, embedder: str) -> int: ...

    def vectors_for_hashes(self, hashes: Iterable[str]) -> dict[str, np.ndarray]: ...

    def delete_documents(self, paths: Iterable[str]) -> int: ...

    def documents_under(self, root: str) -> list[Document]: ...

    def counts(self) -> dict[str, int]: ...

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]: ...

    def keyword_search(self, text: str, limit: int, file_type: str | None = None) -> list[tuple[int, float]]:
        """``(chunk id, score)`` best first by the store's keyword ranking (higher is better)."""
        ...

    def vector_search(
        self, embedder: str, query: np.ndarray, k: int, file_type: str | None = None, *, exact: bool = False
    ) -> list[tuple[int, float]]:
        """``(chunk id, cosine)`` of the ``k`` nearest chunks, best first (equal scores by chunk id).
        ``exact=True`` compares every vector (a store with an approximate index skips the index)."""
        ...

    def export_documents(self) -> Iterator[StoredDocument]:
        """Every stored document with its vectors, by path."""
        ...


@runtime_checkable
class DescriptionClaimsProtocol(Protocol):
    """Claims on LLM descriptions (``_claims.DescriptionClaims`` on SQLite, ``PostgresClaims``): before
    describing a media file a run claims its path, so two runs never both pay for one description."""

    owner: str

    @property
    def identity(self) -> ClaimOwner:
        """Who the claims name (a Ray run's workers claim as their driver's identity)."""
        ...

    def try_claim(self, path: str) -> str | None:
        """``None`` when the claim is ours now, else the live owner holding it."""
        ...

    def release(self, path: str) -> None: ...

    def release_all(self) -> None: ...

    def described(self, path: str) -> tuple[str, str, str] | None:
        """The stored ``(content_hash, prompt_version, model)`` of ``path``, if any."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class TurnStoreProtocol(Protocol):
    """Conversation turns (``ConversationMemory``'s blocking half): ``SQLiteTurns`` or ``PostgresTurns``.
    Rows are :data:`~kagura.core.memory.stores._rows.TurnRow` tuples, oldest first."""

    @property
    def location(self) -> str:
        """The store's path or its URL without password, for messages."""
        ...

    def add(
        self, session: str, role: str, content: str, agent: str | None, metadata: dict[str, Any]
    ) -> tuple[int, float]:
        """Append a turn; its ``(id, created_at)``."""
        ...

    def recent(self, session: str, n: int) -> list[TurnRow]:
        """The last ``n`` turns of ``session``, oldest first."""
        ...

    def clear(self, session: str) -> int:
        """Delete the turns of ``session``; how many there were."""
        ...

    def sessions(self) -> list[str]:
        """Every session with a turn, sorted (byte order)."""
        ...

    def vectors(self, session: str, model: str) -> list[TurnRow]:
        """Every turn of ``session`` with its stored vector of ``model`` appended (bytes, or None)."""
        ...

    def store_vectors(self, model: str, items: list[tuple[int, bytes]]) -> None:
        """Store ``(turn id, float32 bytes)`` vectors of ``model``, replacing any."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SqlDatabase(Protocol):
    """A migrated database for another package's own tables (the job ledger), on either store: write
    statements with ``?`` placeholders and pass them through :meth:`sql`."""

    location: str
    """The path, or the URL without password, for messages."""

    skip_locked: str
    """Appended to a ``SELECT`` that claims rows: PostgreSQL skips rows others are claiming."""

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """One transaction (committed at the end of the block, rolled back on error); its connection."""
        ...

    def sql(self, sql: str) -> str:
        """``sql`` with the driver's placeholders."""
        ...

    def executemany(self, conn: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """The rows of one query (driver placeholders), read apart from the writers."""
        ...

    def close(self) -> None: ...
