"""Claims on LLM descriptions, so two ingests of the same folder never both pay for one file.

Before describing a media file, a run claims ``(path)`` in the store's ``rag_claims`` table (its own
migration namespace, ``"rag-claims"``). A claim names its owner (host, pid and a random token) and
expires after ``ttl`` seconds, so a claim left by a crashed process runs out; on the same host a claim
whose process is gone is taken over at once. Another run meeting a live claim waits for it to go and
then finds the description in the store instead of paying for it again. Claims are released after the
file is stored (or has failed), and all of a run's claims when it ends, however it ends.

A claim belongs to a run, not to the process that takes it: a distributed run's workers claim on behalf
of the driver (:meth:`Claimant.acting_for` its :class:`ClaimOwner`), so the driver releases what they
took, a retried batch takes back the claims of its killed attempt at once, and the claims live exactly as
long as the driver does.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kagura._sqlite import connect, migrate, transaction
from kagura.core.memory.stores._claimant import CLAIM_TTL, Claimant

__all__ = ["DescriptionClaims"]

_MIGRATIONS = (
    """
    CREATE TABLE IF NOT EXISTS rag_claims (
        path TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
)


class DescriptionClaims(Claimant):
    """The claim table of one SQLite store file, on its own connection (blocking, thread-safe)."""

    def __init__(self, path: str | Path, *, ttl: float = CLAIM_TTL) -> None:
        super().__init__(ttl)
        self._lock = threading.Lock()
        self._conn = connect(path)
        migrate(self._conn, _MIGRATIONS, namespace="rag-claims")

    def try_claim(self, path: str) -> str | None:
        """Claim ``path``; ``None`` when it is ours now, else the live owner holding it."""
        now = time.time()
        with self._lock, transaction(self._conn):
            row = self._conn.execute(
                "SELECT owner, host, pid, expires_at FROM rag_claims WHERE path = ?", (path,)
            ).fetchone()
            holder = self.blocked_by(row, now)
            if holder is not None:
                return holder
            self._conn.execute(
                "INSERT OR REPLACE INTO rag_claims (path, owner, host, pid, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (path, self.owner, self.host, self.pid, now + self.ttl),
            )
        return None

    def release(self, path: str) -> None:
        """Drop our claim on ``path`` (nothing if it is not ours)."""
        with self._lock, transaction(self._conn):
            self._conn.execute("DELETE FROM rag_claims WHERE path = ? AND owner = ?", (path, self.owner))

    def release_all(self) -> None:
        """Drop every claim this object holds."""
        with self._lock, transaction(self._conn):
            self._conn.execute("DELETE FROM rag_claims WHERE owner = ?", (self.owner,))

    def described(self, path: str) -> tuple[str, str, str] | None:
        """The stored ``(content_hash, prompt_version, model)`` of ``path``'s document, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT content_hash, prompt_version, model FROM rag_manifest WHERE path = ?", (path,)
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
