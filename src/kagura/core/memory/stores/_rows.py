"""The rows every store reads and writes, in no store's module: the protocol, both stores and their callers
import them from here (so no store imports another, and the protocol imports no implementation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ChunkPiece",
    "ChunkRow",
    "ClaimOwner",
    "ManifestEntry",
    "NewDocument",
    "StoredDocument",
    "TurnRow",
    "WorkerAccess",
    "checked_rows",
]


@dataclass(frozen=True, slots=True)
class ChunkPiece:
    """One chunk of a document: its text, where it came from, and its position in the document
    (``start_line``/``end_line``: the 1-based, inclusive lines of the file it spans, for text files)."""

    text: str
    ordinal: int
    page: int | None = None
    section: str | None = None
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """What produced a stored document: compared with the current versions before any work on a file."""

    content_hash: str
    file_type: str
    extractor_version: str
    prompt_version: str
    model: str
    embedder: str
    chunking: str


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A processed file ready to store: its manifest entry, metadata and chunks (vectors passed apart)."""

    path: str
    root: str
    relpath: str
    mime_type: str
    size: int
    described: bool
    metadata: dict[str, Any]
    manifest: ManifestEntry
    chunks: Sequence[ChunkPiece]
    chunk_hashes: Sequence[str] = ()
    """One per chunk (``sha256(embedder id + NUL + embedded text)``), or empty (stored as NULL)."""


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A stored chunk joined with its document's path."""

    id: int
    document_id: int
    text: str
    page: int | None
    section: str | None
    file_type: str
    path: str
    relpath: str
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One stored file as it can be written again elsewhere: the document, its vectors, their embedder."""

    doc: NewDocument
    vectors: np.ndarray
    embedder: str


@dataclass(frozen=True, slots=True)
class ClaimOwner:
    """What a claim row names: ``owner`` (host:pid:token), and the ``host`` and ``pid`` of the process
    whose life the claim follows."""

    owner: str
    host: str
    pid: int


@dataclass(frozen=True, slots=True)
class WorkerAccess:
    """How worker processes (a Ray run's batches) reach a store, as the store answers it.

    ``shared``: any host can open the store itself at ``target`` (a database server: ``target`` is its URL,
    credentials included, so never show it); otherwise only this host can (a file: ``target`` is its path,
    and workers on other hosts go through a helper on this one)."""

    target: str
    shared: bool

    def __repr__(self) -> str:
        return f"WorkerAccess(shared={self.shared})"  # the target may hold a password


TurnRow = tuple[Any, ...]
"""A conversation turn as a store returns it: ``(id, session_id, role, content, agent, metadata json,
created_at)``, and with ``vector`` (bytes or None) appended where a method says so."""


def checked_rows(doc: NewDocument, vectors: np.ndarray) -> tuple[np.ndarray, Sequence[str | None]]:
    """``doc``'s vectors as contiguous float32 and its chunk hashes (None each when it has none); every
    store calls this before writing. ValueError when the counts do not match the chunks."""
    import numpy as np

    if len(vectors) != len(doc.chunks):
        raise ValueError(f"{len(doc.chunks)} chunks but {len(vectors)} vectors for {doc.path}")
    if doc.chunk_hashes and len(doc.chunk_hashes) != len(doc.chunks):
        raise ValueError(f"{len(doc.chunks)} chunks but {len(doc.chunk_hashes)} hashes for {doc.path}")
    hashes: Sequence[str | None] = doc.chunk_hashes or [None] * len(doc.chunks)
    return np.ascontiguousarray(vectors, dtype=np.float32), hashes
