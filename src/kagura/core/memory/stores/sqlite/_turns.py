"""Conversation turns in an SQLite file: the blocking half of ``ConversationMemory`` (namespace
``"conversation"``), with the same methods and rows as ``PostgresTurns``."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from kagura._sqlite import connect, migrate, transaction
from kagura.core.memory.stores._rows import TurnRow

__all__ = ["TURN_MIGRATIONS", "SQLiteTurns"]

TURN_MIGRATIONS = [
    """
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        agent TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX turns_by_session ON turns (session_id, id);
    CREATE TABLE turn_vectors (
        turn_id INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (turn_id, model)
    );
    """,
]


_COLUMNS = "id, session_id, role, content, agent, metadata, created_at"


class SQLiteTurns:
    """The turn rows of one SQLite file (the default backend); one connection behind a lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection = connect(path)
        try:
            migrate(self._conn, TURN_MIGRATIONS, namespace="conversation", legacy_probe_table="turns")
        except BaseException:
            self._conn.close()
            raise

    @property
    def location(self) -> str:
        """The file's path (or ``:memory:``), for messages."""
        return self.path if self.path == ":memory:" else str(Path(self.path))

    def add(
        self, session: str, role: str, content: str, agent: str | None, metadata: dict[str, Any]
    ) -> tuple[int, float]:
        now = time.time()
        with self._lock, transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO turns (session_id, role, content, agent, metadata, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session, role, content, agent, json.dumps(metadata, ensure_ascii=False), now),
            )
        return int(cursor.lastrowid or 0), now

    def recent(self, session: str, n: int) -> list[TurnRow]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM turns WHERE session_id = ? ORDER BY id DESC LIMIT ?", (session, n)
            ).fetchall()
        return list(reversed(rows))

    def clear(self, session: str) -> int:
        with self._lock, transaction(self._conn):
            return self._conn.execute("DELETE FROM turns WHERE session_id = ?", (session,)).rowcount

    def sessions(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT session_id FROM turns ORDER BY session_id").fetchall()
        return [row[0] for row in rows]

    def vectors(self, session: str, model: str) -> list[TurnRow]:
        with self._lock:
            return self._conn.execute(
                "SELECT t.id, t.session_id, t.role, t.content, t.agent, t.metadata, t.created_at, v.vector "
                "FROM turns t LEFT JOIN turn_vectors v ON v.turn_id = t.id AND v.model = ? "
                "WHERE t.session_id = ? ORDER BY t.id",
                (model, session),
            ).fetchall()

    def store_vectors(self, model: str, items: list[tuple[int, bytes]]) -> None:
        with self._lock, transaction(self._conn):
            self._conn.executemany(
                "INSERT OR REPLACE INTO turn_vectors (turn_id, model, vector) VALUES (?, ?, ?)",
                [(turn_id, model, blob) for turn_id, blob in items],
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
