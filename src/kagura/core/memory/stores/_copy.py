"""Copy an index from one store to another (SQLite <-> PostgreSQL) without embedding anything again."""

from __future__ import annotations

from collections.abc import Callable

from kagura.core.memory.stores._protocol import RAGStoreProtocol

__all__ = ["copy_store"]


def copy_store(
    source: RAGStoreProtocol, target: RAGStoreProtocol, *, on_document: Callable[[str], object] | None = None
) -> int:
    """Write every document of ``source`` (chunks, hashes, vectors, manifest) into ``target``, one file per
    transaction, replacing what ``target`` holds at the same paths. Returns the number of documents copied.
    Raises StoreError when ``target`` holds vectors of another embedder."""
    if source is target:
        raise ValueError("source and target are the same store")
    embedder = source.embedder()
    if embedder is not None:
        target.check_embedder(embedder)
    copied = 0
    for stored in source.export_documents():
        target.replace_document(stored.doc, stored.vectors, stored.embedder)
        copied += 1
        if on_document is not None:
            on_document(stored.doc.path)
    return copied
