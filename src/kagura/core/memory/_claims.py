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

import copy
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from kagura._checks import check_seconds
from kagura._process import pid_alive
from kagura.core.memory._sqlite import connect, migrate, transaction

__all__ = ["CLAIM_TTL", "ClaimOwner", "Claimant", "DescriptionClaims"]

CLAIM_TTL = 900.0
"""Seconds a claim lives: longer than one description with its retries."""

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


@dataclass(frozen=True, slots=True)
class ClaimOwner:
    """What a claim row names: ``owner`` (host:pid:token), and the ``host`` and ``pid`` of the process
    whose life the claim follows."""

    owner: str
    host: str
    pid: int


class Claimant:
    """Who takes claims (``owner`` = host:pid:token) and for how long: one identity and one rule for every
    claim table (SQLite here, PostgreSQL in ``stores.postgres``)."""

    def __init__(self, ttl: float) -> None:
        check_seconds("ttl", ttl, allow_zero=False)
        self.ttl = ttl
        self.here = socket.gethostname()
        """This process's host: whose processes :meth:`blocked_by` can check are alive."""
        self.host = self.here
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"

    @property
    def identity(self) -> ClaimOwner:
        """The owner this object claims as (picklable: hand it to the workers of a distributed run)."""
        return ClaimOwner(self.owner, self.host, self.pid)

    def acting_for(self, identity: ClaimOwner) -> Self:
        """A view of this claim table (same connection) that claims, releases and checks as ``identity``:
        a worker claiming for its driver. Close the original, never the view."""
        view = copy.copy(self)
        view.owner, view.host, view.pid = identity.owner, identity.host, identity.pid
        return view

    def blocked_by(self, row: tuple[Any, ...] | None, now: float) -> str | None:
        """The owner of a claim row ``(owner, host, pid, expires_at)`` that still holds against us: someone
        else's, not expired, and not left by a process that died on this host; None when we may take it."""
        if row is None or row[0] == self.owner:
            return None
        owner, host, pid, expires_at = row
        dead = host == self.here and not pid_alive(int(pid))
        return str(owner) if float(expires_at) > now and not dead else None


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
