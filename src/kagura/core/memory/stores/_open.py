"""Open the store a target names: a path -> SQLite, a ``postgresql://`` URL -> PostgreSQL + pgvector."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagura.core.memory.stores._url import is_postgres_url

if TYPE_CHECKING:
    from kagura._migrations import Migration
    from kagura.core.memory.stores._protocol import (
        DescriptionClaimsProtocol,
        RAGStoreProtocol,
        SqlDatabase,
        TurnStoreProtocol,
    )

__all__ = [
    "check_target",
    "open_claims",
    "open_database",
    "open_rag_store",
    "open_turns",
    "store_exists",
]


def check_target(target: object, what: str = "store") -> str | Path:
    """``target`` as a URL string or a Path; TypeError for anything else."""
    if isinstance(target, str) and is_postgres_url(target):
        return target
    if isinstance(target, str | os.PathLike):
        return Path(target)
    raise TypeError(
        f"{what} must be a path to an SQLite file or a postgresql:// URL, got {type(target).__name__}"
    )


def open_rag_store(target: str | os.PathLike[str], **options: Any) -> RAGStoreProtocol:
    """The RAG store at ``target``. ``options`` (``hnsw=HNSWParams(...)``) apply to PostgreSQL only."""
    checked = check_target(target)
    if isinstance(checked, str):
        from kagura.core.memory.stores.postgres import PostgresRAGStore

        return PostgresRAGStore(checked, **options)
    if options:
        raise ValueError(f"{', '.join(sorted(options))}: options of the PostgreSQL store only")
    from kagura.core.memory.stores.sqlite._store import RAGStore

    return RAGStore(checked)


def store_exists(target: str | os.PathLike[str]) -> bool:
    """Whether a RAG store exists at ``target`` (an SQLite file, or a PostgreSQL database holding kagura's
    ``rag`` schema), checked without creating anything: commands that only read call it first."""
    checked = check_target(target)
    if isinstance(checked, str):
        from kagura.core.memory.stores.postgres._connect import has_namespace

        return has_namespace(checked, "rag")
    return checked.exists()


def open_claims(target: str | os.PathLike[str]) -> DescriptionClaimsProtocol:
    """The description claims of the store at ``target``."""
    checked = check_target(target)
    if isinstance(checked, str):
        from kagura.core.memory.stores.postgres import PostgresClaims

        return PostgresClaims(checked)
    from kagura.core.memory.stores.sqlite._claims import DescriptionClaims

    return DescriptionClaims(checked)


def open_turns(target: str | os.PathLike[str]) -> TurnStoreProtocol:
    """The conversation turns of the store at ``target`` (``":memory:"``: a private SQLite database)."""
    if not isinstance(target, str | os.PathLike):
        raise TypeError(f"path must be an SQLite path or a postgresql:// URL, got {type(target).__name__}")
    if is_postgres_url(target):
        from kagura.core.memory.stores.postgres import PostgresTurns

        return PostgresTurns(str(target))
    from kagura.core.memory.stores.sqlite._turns import SQLiteTurns

    return SQLiteTurns(target)


def open_database(
    target: str | os.PathLike[str], migrations: Sequence[Migration], *, namespace: str, what: str, doing: str
) -> SqlDatabase:
    """The database at ``target`` (an SQLite path, ``~`` expanded, or a ``postgresql://`` URL) with
    ``namespace`` migrated, for tables of another package. ``what`` names the target in a TypeError;
    ``doing`` names the writes in a PostgreSQL error."""
    checked = check_target(target, what)
    if isinstance(checked, str):
        from kagura.core.memory.stores.postgres._database import PostgresDatabase

        return PostgresDatabase(checked, migrations, namespace=namespace, doing=doing)
    from kagura.core.memory.stores.sqlite._database import SQLiteDatabase

    return SQLiteDatabase(checked, migrations, namespace=namespace)
