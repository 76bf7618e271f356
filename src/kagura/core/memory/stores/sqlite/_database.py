"""A migrated SQLite file for another package's tables (the job ledger): transactions, batches and a
streamed read on a connection of its own, behind :class:`~kagura.core.memory.stores._protocol.SqlDatabase`."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kagura._migrations import Migration
from kagura._sqlite import connect, migrate, transaction

__all__ = ["SQLiteDatabase"]


class SQLiteDatabase:
    """One SQLite file (WAL; many processes on one host share it), ``namespace`` migrated on open."""

    skip_locked = ""
    """SQLite locks the whole file while writing: nothing to add to a ``SELECT`` that claims rows."""

    def __init__(
        self, path: str | os.PathLike[str], migrations: Sequence[Migration], *, namespace: str
    ) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._lock = threading.Lock()
        self._conn = connect(self.path)
        try:
            migrate(self._conn, migrations, namespace=namespace)
        except BaseException:
            self._conn.close()
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, transaction(self._conn) as conn:
            yield conn

    def sql(self, sql: str) -> str:
        return sql

    def executemany(self, conn: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        conn.executemany(sql, rows)

    def stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """Rows of one query read on a connection of its own, so writers are not held up."""
        reader = connect(self.path)
        try:
            yield from reader.execute(sql, params)
        finally:
            reader.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
