"""Numbered, namespaced schema migrations: the one runner behind every kagura database.

::

    run_migrations(SQLiteSchema(conn), MIGRATIONS, namespace="rag")      # kagura._sqlite.migrate
    run_migrations(PostgresSchema(pool, url), MIGRATIONS, namespace="rag")  # stores.postgres._connect

The RAG stores (SQLite and PostgreSQL), their description claims, conversation turns, the job ledger and
the LLM response cache all keep their schema this way. Each names its ``namespace`` (``"rag"``,
``"rag-claims"``, ``"conversation"``, ``"jobs"``, ``"llm-cache"``) and its version is a row of the
``kagura_schema (namespace, version)`` table, so several can share one file or database and migrate
independently. ``migrations[i]`` brings a namespace from version ``i`` to ``i + 1``: an SQL script or a
callable taking the connection. Each runs in its own transaction, under the database's schema lock,
together with the bump of its namespace's row, so a crash leaves every namespace at a whole version and two
processes starting together migrate once. Never edit a released migration; append a new one.

A namespace newer than the code (written by a newer kagura) is refused with
:class:`~kagura.errors.StoreError`. Files written before namespaces recorded one store's version in
SQLite's ``PRAGMA user_version``: when a namespace has no row yet and the caller names a
``legacy_probe_table`` that exists, that version is adopted once (see :class:`SchemaDatabase`).

What differs between databases (the lock, placeholders, how a script runs, which driver errors mean a
failed migration) is a :class:`SchemaDatabase`; this module imports no driver.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from kagura.errors import StoreError

__all__ = ["SCHEMA_TABLE", "Migration", "SchemaDatabase", "check_migrations", "run_migrations"]

Migration = str | Callable[[Any], object]
"""One step: an SQL script, or a callable given the open connection (inside the step's transaction)."""

SCHEMA_TABLE = "kagura_schema"


class SchemaDatabase(Protocol):
    """What the runner needs from one database (an adapter per driver)."""

    placeholder: str
    """The driver's parameter mark: ``"?"`` (sqlite3) or ``"%s"`` (psycopg)."""

    errors: tuple[type[BaseException], ...]
    """Driver errors raised by a migration step, reported as ``migration N failed``."""

    @property
    def location(self) -> str:
        """The database as messages name it (a path, or a URL without password)."""
        ...

    def recorded_version(self, namespace: str) -> int | None:
        """The namespace's version read without any lock; None when it has no row (or no table) yet."""
        ...

    def locked(self, namespace: str) -> contextlib.AbstractContextManager[Any]:
        """One transaction holding the schema lock, yielding its connection; committed when the block
        ends, rolled back when it raises."""
        ...

    def run_script(self, conn: Any, script: str) -> None:
        """Execute every statement of ``script`` on ``conn``."""
        ...

    def legacy_version(self, conn: Any, probe_table: str) -> int:
        """The version a file written before namespaces recorded, if ``probe_table`` exists; else 0."""
        ...


def check_migrations(namespace: object, migrations: Sequence[object]) -> None:
    """ValueError for an empty namespace, TypeError for a step that is neither SQL nor a callable."""
    if not isinstance(namespace, str) or not namespace:
        raise ValueError("namespace must be a non-empty string")
    for i, migration in enumerate(migrations):
        if not (isinstance(migration, str) or callable(migration)):
            raise TypeError(f"migrations[{i}] must be an SQL string or a callable(conn), not {migration!r}")


def _too_new(db: SchemaDatabase, namespace: str, current: int, target: int) -> StoreError:
    return StoreError(
        f"the store's {namespace!r} schema version {current} is newer than this kagura supports ({target}); "
        f"upgrade kagura or use another store ({db.location})"
    )


def _registered(db: SchemaDatabase, conn: Any, namespace: str, legacy_probe_table: str | None) -> int:
    """The namespace's version under the lock, creating the table and its row (adopting a legacy version)."""
    mark = db.placeholder
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = conn.execute(
        f"SELECT version FROM {SCHEMA_TABLE} WHERE namespace = {mark}", (namespace,)
    ).fetchone()
    if row is not None:
        return int(row[0])
    current = 0 if legacy_probe_table is None else db.legacy_version(conn, legacy_probe_table)
    conn.execute(
        f"INSERT INTO {SCHEMA_TABLE} (namespace, version) VALUES ({mark}, {mark})", (namespace, current)
    )
    return current


def run_migrations(
    db: SchemaDatabase,
    migrations: Sequence[Migration],
    *,
    namespace: str,
    legacy_probe_table: str | None = None,
) -> int:
    """Apply the migrations ``namespace`` has not seen yet; return its resulting schema version.

    A database already at the latest version is only read (no write lock). Raises StoreError when the
    namespace is newer than ``migrations`` or when a step fails with a driver error (that step is rolled
    back; earlier ones stay); any other exception from a callable step propagates after the rollback.
    """
    check_migrations(namespace, migrations)
    target = len(migrations)
    current = db.recorded_version(namespace)
    if current is not None and current >= target:
        if current > target:
            raise _too_new(db, namespace, current, target)
        return current
    while True:
        with db.locked(namespace) as conn:
            # Another process may have migrated while we waited for the lock: read the version again.
            current = _registered(db, conn, namespace, legacy_probe_table)
            if current > target:
                raise _too_new(db, namespace, current, target)
            if current == target:
                return current
            migration = migrations[current]
            try:
                if isinstance(migration, str):
                    db.run_script(conn, migration)
                else:
                    migration(conn)
            except db.errors as exc:
                raise StoreError(f"{namespace!r} schema migration {current + 1} failed: {exc}") from exc
            mark = db.placeholder
            conn.execute(
                f"UPDATE {SCHEMA_TABLE} SET version = {mark} WHERE namespace = {mark}",
                (current + 1, namespace),
            )
