"""A migrated PostgreSQL database for another package's tables (the job ledger): the same methods as
``SQLiteDatabase``, on a pool (workers on many hosts share it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from kagura._migrations import Migration
from kagura._redact import redact_url
from kagura.core.memory.stores.postgres._connect import open_migrated, transaction

__all__ = ["PostgresDatabase"]


class PostgresDatabase:
    """The database at ``url``, ``namespace`` migrated on open; ``doing`` names its writes in errors."""

    skip_locked = " FOR UPDATE SKIP LOCKED"
    """Rows another transaction is claiming are skipped, not waited for."""

    def __init__(
        self, url: str, migrations: Sequence[Migration], *, namespace: str, doing: str, pool_size: int = 2
    ) -> None:
        self.url = url
        self.location = redact_url(url)
        self.doing = doing
        self._pool = open_migrated(url, migrations, namespace=namespace, max_size=pool_size)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with transaction(self._pool, self.url, self.doing) as conn:
            yield conn

    def sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def executemany(self, conn: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(self.sql(sql), rows)

    def stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """Rows of one query through a server-side cursor (2,000 at a time)."""
        with self._pool.connection() as conn, conn.cursor(name="kagura_stream") as cursor:
            cursor.itersize = 2000
            cursor.execute(sql.encode(), params)
            yield from cursor

    def close(self) -> None:
        self._pool.close()
