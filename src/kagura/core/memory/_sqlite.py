"""SQLite conventions shared by every kagura store (the RAG index, conversation memory).

::

    conn = connect("kagura.db")          # WAL, foreign keys, busy timeout, synchronous=NORMAL
    migrate(conn, MIGRATIONS)            # numbered schema migrations tracked by PRAGMA user_version
    with transaction(conn):              # BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error
        conn.execute("INSERT ...")

``MIGRATIONS[i]`` brings the schema from version ``i`` to ``i + 1``: an SQL script (several statements) or a
callable taking the connection. Each runs in its own transaction together with the ``user_version`` bump,
so a crash leaves the store at a whole version. Never edit a released migration; append a new one.

Connections are made with ``check_same_thread=False`` so async code can use them from
``asyncio.to_thread`` workers; the caller serialises access (one connection per thread, or a lock).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from kagura.errors import StoreError

__all__ = ["Migration", "connect", "migrate", "schema_version", "split_sql", "transaction"]

Migration = str | Callable[[sqlite3.Connection], object]


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
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{target} is not a usable SQLite database: {exc}") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` and re-raise on any exception.

    IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout instead of failing
    with "database is locked" when a read transaction tries to upgrade.
    """
    if conn.in_transaction:
        raise RuntimeError("transaction() cannot nest: a transaction is already open on this connection")
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


def schema_version(conn: sqlite3.Connection) -> int:
    """The store's ``PRAGMA user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Apply the migrations the store has not seen yet; return the resulting schema version.

    Raises :class:`~kagura.errors.StoreError` when the store is newer than ``migrations`` (written by a
    newer kagura) or when a migration fails (that migration is rolled back; earlier ones stay).
    """
    for i, migration in enumerate(migrations):
        if not (isinstance(migration, str) or callable(migration)):
            raise TypeError(f"migrations[{i}] must be an SQL string or a callable(conn), not {migration!r}")
    target = len(migrations)
    try:
        current = schema_version(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the store is not a usable SQLite database: {exc}") from exc
    if current > target:
        raise StoreError(
            f"the store's schema version {current} is newer than this kagura supports ({target}); "
            "upgrade kagura or use another store path"
        )
    for number in range(current, target):
        migration = migrations[number]
        with transaction(conn):
            # Another process may have migrated while we waited for the write lock.
            if schema_version(conn) > number:
                continue
            try:
                if isinstance(migration, str):
                    for statement in split_sql(migration):
                        conn.execute(statement)
                else:
                    migration(conn)
            except sqlite3.Error as exc:
                raise StoreError(f"schema migration {number + 1} failed: {exc}") from exc
            conn.execute(f"PRAGMA user_version = {number + 1}")
    return schema_version(conn)
