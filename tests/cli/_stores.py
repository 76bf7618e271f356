"""Helpers for tests that look into a store written by a ``kagura`` subprocess."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["stored_relpaths"]


def stored_relpaths(store: Path) -> list[str]:
    """The relative paths of the documents an SQLite store holds now, sorted (none before it exists or
    before its tables are created). Opened read-only, so it can watch a store another process writes."""
    if not store.exists():
        return []
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return sorted(row[0] for row in conn.execute("SELECT relpath FROM rag_documents"))
        except sqlite3.OperationalError:  # tables not created yet
            return []
