"""Stores side by side: ``sqlite`` (the default, one file) and ``postgres`` (PostgreSQL + pgvector).

Both implement :class:`RAGStoreProtocol`; :func:`open_rag_store` picks one from a path or a
``postgresql://`` URL. Names are imported lazily, so the PostgreSQL driver loads only when a URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura.core.memory.stores._open import open_rag_store
    from kagura.core.memory.stores._protocol import RAGStoreProtocol
    from kagura.core.memory.stores.postgres import HNSWParams, PostgresRAGStore
    from kagura.core.memory.stores.sqlite import SQLiteRAGStore

    # isort: split
    # Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
    from kagura._redact import redact_url  # noqa: F401
    from kagura.core.memory.stores._copy import copy_store  # noqa: F401
    from kagura.core.memory.stores._open import check_target, open_claims, open_turns, store_exists  # noqa: F401
    from kagura.core.memory.stores._protocol import TurnStoreProtocol  # noqa: F401
    from kagura.core.memory.stores._rows import StoredDocument  # noqa: F401
    from kagura.core.memory.stores._url import describe_target, is_postgres_url, target_problem  # noqa: F401

__all__ = [
    "HNSWParams",
    "PostgresRAGStore",
    "RAGStoreProtocol",
    "SQLiteRAGStore",
    "open_rag_store",
]

__getattr__, __dir__ = lazy_exports(__name__, __all__)
