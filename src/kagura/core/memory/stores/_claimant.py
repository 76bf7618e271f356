"""Who takes a claim, and when a claim row still holds: one identity and one liveness rule for every claim
table (the description claims of both stores, the job ledger's item claims)."""

from __future__ import annotations

import copy
import os
import socket
import uuid
from typing import Any, Self

from kagura._checks import check_seconds
from kagura._process import pid_alive
from kagura.core.memory.stores._rows import ClaimOwner

__all__ = ["CLAIM_TTL", "Claimant"]

CLAIM_TTL = 900.0
"""Seconds a description claim lives: longer than one description with its retries."""


class Claimant:
    """Who takes claims (``owner`` = host:pid:token) and for how long: one identity and one rule for every
    claim table (SQLite and PostgreSQL stores, the job ledger)."""

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
