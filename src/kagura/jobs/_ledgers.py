"""The two ledger backends and :func:`open_ledger`: a SQLite file (default) or a ``postgresql://`` URL.

Both run the same statements (:class:`~kagura.jobs._ledger.SqlLedger`) through the stores' migration
runners (namespace ``"jobs"``): SQLite through ``kagura.core.memory``'s ``connect``/``migrate``, PostgreSQL
through the PostgreSQL store's pool (extra ``kagura[postgres]``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kagura.core.memory.stores._claimant import Claimant
from kagura.jobs._ledger import JOB_MIGRATIONS, SqlLedger

__all__ = ["CLAIM_TTL", "PostgresLedger", "SqliteLedger", "is_postgres_url", "open_ledger"]

CLAIM_TTL = 120.0
"""Seconds a claim lives without renewal (a worker renews its claims every third of that)."""


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class SqliteLedger(SqlLedger):
    """A ledger in one SQLite file (WAL; many processes on one host share it)."""

    def __init__(self, path: str | Path, job: str, *, claimant: Claimant) -> None:
        super().__init__(job, owner=claimant.owner, host=claimant.host, pid=claimant.pid, ttl=claimant.ttl)
        from kagura._sqlite import connect, migrate

        self.path = Path(path)
        self.location = str(self.path)
        self._lock = threading.Lock()
        self._conn = connect(self.path)
        migrate(self._conn, JOB_MIGRATIONS, namespace="jobs")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        from kagura._sqlite import transaction

        with self._lock, transaction(self._conn) as conn:
            yield conn

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        from kagura._sqlite import connect

        reader = connect(self.path)
        try:
            yield from reader.execute(sql, params)
        finally:
            reader.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresLedger(SqlLedger):
    """A ledger in a PostgreSQL database: workers on many hosts share one job."""

    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, job: str, *, claimant: Claimant) -> None:
        super().__init__(job, owner=claimant.owner, host=claimant.host, pid=claimant.pid, ttl=claimant.ttl)
        from kagura.core.memory.stores._url import redact_url
        from kagura.core.memory.stores.postgres._connect import open_migrated

        self.url = url
        self.location = redact_url(url)
        self._pool = open_migrated(url, JOB_MIGRATIONS, namespace="jobs", max_size=2)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        from kagura.core.memory.stores.postgres._connect import transaction

        with transaction(self._pool, self.url, "update the job ledger") as conn:
            yield conn

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _executemany(self, conn: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        with self._pool.connection() as conn, conn.cursor(name="kagura_job_results") as cursor:
            cursor.itersize = 2000
            cursor.execute(sql.encode(), params)
            yield from cursor

    def close(self) -> None:
        self._pool.close()


def open_ledger(target: str | Path, job: str, *, ttl: float = CLAIM_TTL) -> SqlLedger:
    """The ledger at ``target`` (a SQLite path, or a ``postgresql://`` URL) for ``job``."""
    claimant = Claimant(ttl)
    if is_postgres_url(target):
        return PostgresLedger(str(target), job, claimant=claimant)
    if not isinstance(target, str | Path):
        raise TypeError(f"ledger must be a path or a postgresql:// URL, got {type(target).__name__}")
    return SqliteLedger(Path(target).expanduser(), job, claimant=claimant)
