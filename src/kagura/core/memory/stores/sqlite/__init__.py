"""The SQLite stores (the default, one file): the RAG index (:class:`SQLiteRAGStore`), its description
claims (:class:`DescriptionClaims`) and conversation turns (:class:`SQLiteTurns`), side by side with
``stores.postgres``; all follow ``kagura._sqlite``'s conventions and can share one file.

Names are imported lazily: opening conversation turns does not load the RAG store (numpy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kagura._lazy import lazy_exports

if TYPE_CHECKING:
    from kagura.core.memory.stores.sqlite._claims import DescriptionClaims
    from kagura.core.memory.stores.sqlite._store import SQLiteRAGStore
    from kagura.core.memory.stores.sqlite._turns import SQLiteTurns

__all__ = ["DescriptionClaims", "SQLiteRAGStore", "SQLiteTurns"]

_LAZY: dict[str, str] = {
    "DescriptionClaims": "kagura.core.memory.stores.sqlite._claims",
    "SQLiteRAGStore": "kagura.core.memory.stores.sqlite._store",
    "SQLiteTurns": "kagura.core.memory.stores.sqlite._turns",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
