"""Store targets: a filesystem path means SQLite, a ``postgresql://`` URL means PostgreSQL.

A URL names a store in messages only through ``redact_url`` (:mod:`kagura._redact`, every credential form
masked), and a driver's message goes through ``redact_text`` with the URL's own secrets.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from kagura._redact import redact_url

__all__ = ["describe_target", "is_postgres_url", "target_problem"]

_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """True when ``target`` is a ``postgresql://`` (or ``postgres://``) URL string."""
    return isinstance(target, str) and target.lower().startswith(_SCHEMES)


def describe_target(target: str | os.PathLike[str]) -> str:
    """How to name a store in a message: the redacted URL, or the path."""
    return redact_url(str(target)) if is_postgres_url(target) else str(Path(target))


def target_problem(target: str) -> str | None:
    """What is wrong with a store target as the user typed it, or None: a ``postgresql://`` URL whose host
    part is malformed (a port that is not 1-65535, spaces); any other string is a path."""
    if not is_postgres_url(target):
        return None
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError as exc:
        return f"not a valid PostgreSQL URL ({exc}): expected postgresql://USER@HOST:PORT/DATABASE"
    if port == 0:
        return "port 0 is not a valid PostgreSQL port (1-65535)"
    if any(ch.isspace() or ord(ch) < 32 for ch in parts.netloc):
        return "the host part of the PostgreSQL URL holds spaces or control characters"
    return None
