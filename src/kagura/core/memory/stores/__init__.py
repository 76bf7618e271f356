"""Stores side by side: ``sqlite`` (the default, one file) and ``postgres`` (PostgreSQL + pgvector).

Both implement the same protocols (:class:`RAGStoreProtocol`: documents, chunks, searches, their claims and
how workers reach them; :class:`TurnStoreProtocol`: conversation turns) over the rows of ``_rows``.
:func:`open_rag_store` and :func:`open_turns` pick one from a path or a ``postgresql://`` URL: no caller
outside this package tells the kinds apart. Names are imported lazily, so the PostgreSQL driver loads only
when a URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura._redact import redact_url
    from kagura.core.memory.stores._copy import copy_store
    from kagura.core.memory.stores._open import (
        check_target,
        open_claims,
        open_rag_store,
        open_turns,
        store_exists,
    )
    from kagura.core.memory.stores._protocol import RAGStoreProtocol, TurnStoreProtocol
    from kagura.core.memory.stores._rows import StoredDocument
    from kagura.core.memory.stores._url import describe_target, is_postgres_url, target_problem
    from kagura.core.memory.stores.postgres import HNSWParams, PostgresRAGStore
    from kagura.core.memory.stores.sqlite import SQLiteRAGStore

__all__ = [
    "HNSWParams",
    "PostgresRAGStore",
    "RAGStoreProtocol",
    "SQLiteRAGStore",
    "StoredDocument",
    "TurnStoreProtocol",
    "check_target",
    "copy_store",
    "describe_target",
    "is_postgres_url",
    "open_claims",
    "open_rag_store",
    "open_turns",
    "redact_url",
    "store_exists",
    "target_problem",
]

_LAZY: dict[str, str] = {
    "HNSWParams": "kagura.core.memory.stores.postgres",
    "PostgresRAGStore": "kagura.core.memory.stores.postgres",
    "RAGStoreProtocol": "kagura.core.memory.stores._protocol",
    "TurnStoreProtocol": "kagura.core.memory.stores._protocol",
    "SQLiteRAGStore": "kagura.core.memory.stores.sqlite",
    "StoredDocument": "kagura.core.memory.stores._rows",
    "check_target": "kagura.core.memory.stores._open",
    "copy_store": "kagura.core.memory.stores._copy",
    "describe_target": "kagura.core.memory.stores._url",
    "is_postgres_url": "kagura.core.memory.stores._url",
    "open_claims": "kagura.core.memory.stores._open",
    "open_rag_store": "kagura.core.memory.stores._open",
    "open_turns": "kagura.core.memory.stores._open",
    "redact_url": "kagura._redact",
    "store_exists": "kagura.core.memory.stores._open",
    "target_problem": "kagura.core.memory.stores._url",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
