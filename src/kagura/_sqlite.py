"""SQLite conventions shared by every kagura database (RAG store, turns, job ledger, LLM cache).

::

    conn = connect("kagura.db")                      # WAL, foreign keys, busy timeout, synchronous=NORMAL
    migrate(conn, MIGRATIONS, namespace="rag")       # numbered migrations, versioned per namespace
    with transaction(conn):                          # BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error
        conn.execute("INSERT ...")

``migrate`` is :func:`kagura._migrations.run_migrations` (the runner every kagura database uses) on one
connection: several stores can share one file, each with its own ``namespace`` (``"rag"``,
``"conversation"``), its version a row of ``kagura_schema (namespace, version)``. ``MIGRATIONS[i]`` brings
a namespace from version ``i`` to ``i + 1``: an SQL script (several statements) or a callable taking the
connection. Each runs in its own ``BEGIN IMMEDIATE`` transaction together with the bump of its namespace's
row, so a crash leaves every namespace at a whole version. Never edit a released migration; append one.

Files written before namespaces recorded one store's version in ``PRAGMA user_version``. When a namespace
has no row yet, ``user_version`` is positive and the caller's ``legacy_probe_table`` exists, that version is
adopted once as the namespace's version (its migrations are not re-run). ``user_version`` is never written.

Connections are made with ``check_same_thread=False`` so async code can use them from
``asyncio.to_thread`` workers; the caller serialises access (one connection per thread, or a lock).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from kagura._migrations import SCHEMA_TABLE, Migration, check_migrations, run_migrations
from kagura.errors import StoreError, UsageError

__all__ = ["Migration", "SQLiteSchema", "connect", "migrate", "schema_version", "split_sql", "transaction"]


def connect(
    path: str | os.PathLike[str],
    *,
    busy_timeout: float = 5.0,
    check_same_thread: bool = False,
) -> sqlite3.Connection:
    """Open (creating parent directories) the SQLite file at ``path`` with kagura's settings.

    ``":memory:"`` opens a private in-memory database (WAL does not apply there). Raises
    :class:`~kagura.errors.StoreError` when the file cannot be opened or is not a database.
    """
    if busy_timeout < 0:
        raise ValueError("busy_timeout must be >= 0 seconds")
    target = os.fspath(path)
    if target != ":memory:":
        _check_file(Path(target).expanduser())
        Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
        target = str(Path(target).expanduser())
    try:
        conn = sqlite3.connect(target, timeout=busy_timeout, check_same_thread=check_same_thread)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open SQLite store {target}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if target != ":memory:":
            _enable_wal(conn, busy_timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{target} is not a usable SQLite database: {exc}") from exc
    return conn


def _check_file(path: Path) -> None:
    """Refuse a path that exists but cannot be an SQLite file (SQLite's own words for it are vague)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # missing (created on open) or unreadable (SQLite reports it)
    if stat.S_ISDIR(mode):
        raise StoreError(f"cannot open SQLite store {path}: it is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise StoreError(f"cannot open SQLite store {path}: not a regular file (a FIFO, socket or device)")


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL, waiting out other connections that are switching the same new file at once.

    Changing the journal mode needs an exclusive lock, and SQLite does not always call the busy handler
    for it: when several connections open a brand-new file together, all but one get "database is
    locked" at once. Retry until ``busy_timeout`` has passed (the file is in WAL by then, in practice).
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` and re-raise on any exception.

    IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout instead of failing
    with "database is locked" when a read transaction tries to upgrade.
    """
    if conn.in_transaction:
        raise UsageError("transaction() cannot nest: a transaction is already open on this connection")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def split_sql(script: str) -> list[str]:
    """Split an SQL script into complete statements (triggers with inner ``;`` stay whole)."""
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:80]!r}")
    return statements


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def _unusable(exc: sqlite3.DatabaseError) -> StoreError:
    return StoreError(f"the store is not a usable SQLite database: {exc}")


class SQLiteSchema:
    """:class:`~kagura._migrations.SchemaDatabase` for one SQLite connection: ``BEGIN IMMEDIATE`` is the
    schema lock; a legacy file's version is its ``PRAGMA user_version`` (read, never written)."""

    placeholder = "?"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @property
    def location(self) -> str:
        """The connection's main file (``:memory:`` for a private database)."""
        try:
            row = self.conn.execute("PRAGMA database_list").fetchone()
        except sqlite3.Error:
            return "an SQLite file"
        return str(row[2]) if row is not None and row[2] else ":memory:"

    def recorded_version(self, namespace: str) -> int | None:
        try:
            if not _table_exists(self.conn, SCHEMA_TABLE):
                return None
            row = self.conn.execute(
                f"SELECT version FROM {SCHEMA_TABLE} WHERE namespace = ?", (namespace,)
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise _unusable(exc) from exc
        return None if row is None else int(row[0])

    @contextlib.contextmanager
    def locked(self, namespace: str) -> Iterator[sqlite3.Connection]:
        try:
            with transaction(self.conn) as conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            raise _unusable(exc) from exc

    def run_script(self, conn: sqlite3.Connection, script: str) -> None:
        for statement in split_sql(script):
            conn.execute(statement)

    def legacy_version(self, conn: sqlite3.Connection, probe_table: str) -> int:
        legacy = int(conn.execute("PRAGMA user_version").fetchone()[0])
        return legacy if legacy > 0 and _table_exists(conn, probe_table) else 0


def schema_version(conn: sqlite3.Connection, namespace: str) -> int:
    """The schema version recorded for ``namespace`` (0 when it has none yet).

    Raises :class:`~kagura.errors.StoreError` when the file is not a usable SQLite database.
    """
    return SQLiteSchema(conn).recorded_version(namespace) or 0


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration],
    *,
    namespace: str,
    legacy_probe_table: str | None = None,
) -> int:
    """Apply the migrations ``namespace`` has not seen yet; return its resulting schema version
    (:func:`kagura._migrations.run_migrations` on this connection).

    ``legacy_probe_table`` is a table the namespace's first migration creates: in a file written before
    namespaces (no row for ``namespace``), its presence means ``PRAGMA user_version`` is this namespace's
    version, which is then adopted once instead of re-running the migrations.

    Raises :class:`~kagura.errors.StoreError` when the file is not a usable SQLite database, when the
    namespace is newer than ``migrations`` (written by a newer kagura) or when a migration fails (that
    migration is rolled back; earlier ones stay).
    """
    check_migrations(namespace, migrations)
    return run_migrations(
        SQLiteSchema(conn), migrations, namespace=namespace, legacy_probe_table=legacy_probe_table
    )
