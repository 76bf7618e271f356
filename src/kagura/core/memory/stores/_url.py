"""Store targets: a filesystem path means SQLite, a ``postgresql://`` URL means PostgreSQL.

``redact_url`` drops the password from a URL before it appears in any message or log line.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["describe_target", "is_postgres_url", "redact_url", "scrub"]

_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """True when ``target`` is a ``postgresql://`` (or ``postgres://``) URL string."""
    return isinstance(target, str) and target.lower().startswith(_SCHEMES)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (user, host, port, database and options kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, parts.fragment))


def scrub(message: str, url: str) -> str:
    """``message`` with the password of ``url`` (and the full URL) removed, for errors from the driver."""
    message = message.replace(url, redact_url(url))
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        message = message.replace(password, "***")
    return message


def describe_target(target: str | os.PathLike[str]) -> str:
    """How to name a store in a message: the redacted URL, or the path."""
    return redact_url(str(target)) if is_postgres_url(target) else str(Path(target))
