"""The SQLite stores (the default): the RAG index is
:class:`~kagura.core.memory.stores.sqlite._store.RAGStore`, the conversation turns live in
:mod:`kagura.core.memory.conversation`; both follow ``kagura._sqlite``'s conventions."""

from __future__ import annotations

from kagura.core.memory.stores.sqlite._store import RAGStore

SQLiteRAGStore = RAGStore

__all__ = ["SQLiteRAGStore"]
