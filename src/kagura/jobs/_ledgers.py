"""The ledger on a store's database and :func:`open_ledger`: a SQLite file (default) or a ``postgresql://``
URL.

The statements are :class:`~kagura.jobs._ledger.SqlLedger`'s; the database is the stores' (namespace
``"jobs"``, migrated by kagura's one runner; extra ``kagura[postgres]`` for a URL), which alone knows the
two kinds apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kagura.core.memory.stores._claimant import Claimant
from kagura.core.memory.stores._open import open_database
from kagura.core.memory.stores._protocol import SqlDatabase
from kagura.jobs._ledger import JOB_MIGRATIONS, SqlLedger

__all__ = ["CLAIM_TTL", "DatabaseLedger", "ledger_database", "open_ledger"]

CLAIM_TTL = 120.0
"""Seconds a claim lives without renewal (a worker renews its claims every third of that)."""


class DatabaseLedger(SqlLedger):
    """A ledger in one store database: an SQLite file (WAL; many processes on one host share it) or a
    PostgreSQL database (workers on many hosts share one job)."""

    def __init__(self, open_db: Callable[[], SqlDatabase], job: str, *, claimant: Claimant) -> None:
        super().__init__(job, owner=claimant.owner, host=claimant.host, pid=claimant.pid, ttl=claimant.ttl)
        db = self.db = open_db()  # after the arguments are checked: a bad job name creates no file
        self.location = db.location
        self.skip_locked = db.skip_locked

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        with self.db.transaction() as conn:
            yield conn

    def _sql(self, sql: str) -> str:
        return self.db.sql(sql)

    def _executemany(self, conn: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        self.db.executemany(conn, self._sql(sql), rows)

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        return self.db.stream(sql, params)

    def close(self) -> None:
        self.db.close()


def ledger_database(target: str | Path) -> Callable[[], SqlDatabase]:
    """How to open the ledger's database at ``target`` (a SQLite path, or a ``postgresql://`` URL)."""

    def open_db() -> SqlDatabase:
        return open_database(
            target, JOB_MIGRATIONS, namespace="jobs", what="ledger", doing="update the job ledger"
        )

    return open_db


def open_ledger(target: str | Path, job: str, *, ttl: float = CLAIM_TTL) -> SqlLedger:
    """The ledger at ``target`` (a SQLite path, or a ``postgresql://`` URL) for ``job``."""
    return DatabaseLedger(ledger_database(target), job, claimant=Claimant(ttl))
