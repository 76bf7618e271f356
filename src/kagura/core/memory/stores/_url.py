"""Store targets: a filesystem path means SQLite, a ``postgresql://`` URL means PostgreSQL.

A URL names a store in messages only through ``redact_url`` (:mod:`kagura._redact`, every credential form
masked), and a driver's message goes through ``redact_text`` with the URL's own secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

from kagura._redact import redact_url

__all__ = ["describe_target", "is_postgres_url"]

_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """True when ``target`` is a ``postgresql://`` (or ``postgres://``) URL string."""
    return isinstance(target, str) and target.lower().startswith(_SCHEMES)


def describe_target(target: str | os.PathLike[str]) -> str:
    """How to name a store in a message: the redacted URL, or the path."""
    return redact_url(str(target)) if is_postgres_url(target) else str(Path(target))
