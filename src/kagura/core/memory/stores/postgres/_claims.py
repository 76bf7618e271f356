"""Description claims on PostgreSQL: the SQLite ``DescriptionClaims`` contract, for workers on many hosts.

A claim is a ``rag_claims`` row (owner = host:pid:token, expiry). ``try_claim`` takes a free, expired or
same-host-dead claim in one statement (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``), so two workers
racing for one file cannot both win. A crashed worker's claim runs out after ``ttl`` seconds (on its own
host, at once, since its pid is gone).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kagura.core.memory.stores._claimant import CLAIM_TTL, Claimant  # one identity and one rule for both
from kagura.core.memory.stores.postgres._connect import migrate, open_migrated, transaction
from kagura.core.memory.stores.postgres._schema import CLAIM_MIGRATIONS

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresClaims"]


class PostgresClaims(Claimant):
    """Claims on LLM descriptions in one PostgreSQL database (blocking, thread-safe).

    ``pool``: connections to borrow (a store's, see ``PostgresRAGStore.claims``), left open by
    :meth:`close`; by default the claims open their own."""

    def __init__(self, url: str, *, ttl: float = CLAIM_TTL, pool: ConnectionPool | None = None) -> None:
        super().__init__(ttl)
        self.url = url
        self._owns_pool = pool is None
        if pool is None:
            self._pool = open_migrated(url, CLAIM_MIGRATIONS, namespace="rag-claims", max_size=2)
        else:
            migrate(pool, url, CLAIM_MIGRATIONS, namespace="rag-claims")
            self._pool = pool

    def try_claim(self, path: str) -> str | None:
        """Claim ``path``; ``None`` when it is ours now, else the live owner holding it."""
        now = time.time()
        with transaction(self._pool, self.url, "claim a description") as conn:
            row = conn.execute(
                "SELECT owner, host, pid, expires_at FROM rag_claims WHERE path = %s FOR UPDATE", (path,)
            ).fetchone()
            holder = self.blocked_by(row, now)
            if holder is not None:
                return holder
            taken = conn.execute(
                "INSERT INTO rag_claims (path, owner, host, pid, expires_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (path) DO UPDATE SET owner = excluded.owner, host = excluded.host,"
                " pid = excluded.pid, expires_at = excluded.expires_at"
                " WHERE rag_claims.owner = %s OR rag_claims.expires_at <= %s OR rag_claims.owner = %s"
                " RETURNING owner",
                (path, self.owner, self.host, self.pid, now + self.ttl, self.owner, now,
                 "" if row is None else row[0]),
            ).fetchone()  # fmt: skip
            if taken is None:  # someone else inserted it between our read and our write
                holder = conn.execute("SELECT owner FROM rag_claims WHERE path = %s", (path,)).fetchone()
                return "another worker" if holder is None else str(holder[0])
        return None

    def release(self, path: str) -> None:
        """Drop our claim on ``path`` (nothing if it is not ours)."""
        with transaction(self._pool, self.url, "release a claim") as conn:
            conn.execute("DELETE FROM rag_claims WHERE path = %s AND owner = %s", (path, self.owner))

    def release_all(self) -> None:
        """Drop every claim this object holds."""
        with transaction(self._pool, self.url, "release claims") as conn:
            conn.execute("DELETE FROM rag_claims WHERE owner = %s", (self.owner,))

    def described(self, path: str) -> tuple[str, str, str] | None:
        """The stored ``(content_hash, prompt_version, model)`` of ``path``'s document, if any."""
        with transaction(self._pool, self.url, "read the manifest") as conn:
            row = conn.execute(
                "SELECT content_hash, prompt_version, model FROM rag_manifest WHERE path = %s", (path,)
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    def close(self) -> None:
        if self._owns_pool:
            self._pool.close()
