"""Conversation turns on PostgreSQL: the blocking half of ``ConversationMemory`` (namespace
``"conversation"``), with the same methods and rows as the SQLite one."""

from __future__ import annotations

import json
import time
from typing import Any

from kagura._redact import redact_url
from kagura.core.memory.stores.postgres._connect import open_migrated, transaction
from kagura.core.memory.stores.postgres._schema import TURN_MIGRATIONS

__all__ = ["PostgresTurns"]

_COLUMNS = "id, session_id, role, content, agent, metadata, created_at"


class PostgresTurns:
    """Turn rows of one PostgreSQL database. Rows come back as ``(id, session, role, content, agent,
    metadata json, created_at)`` tuples, like the SQLite backend's."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool = open_migrated(url, TURN_MIGRATIONS, namespace="conversation", max_size=2)

    @property
    def location(self) -> str:
        return redact_url(self.url)

    def _tx(self, doing: str) -> Any:
        return transaction(self._pool, self.url, doing)

    def add(
        self, session: str, role: str, content: str, agent: str | None, metadata: dict[str, Any]
    ) -> tuple[int, float]:
        now = time.time()
        with self._tx("add a turn") as conn:
            row = conn.execute(
                "INSERT INTO turns (session_id, role, content, agent, metadata, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (session, role, content, agent, json.dumps(metadata, ensure_ascii=False), now),
            ).fetchone()
        return int(row[0]), now

    def recent(self, session: str, n: int) -> list[tuple[Any, ...]]:
        with self._tx("read turns") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM turns WHERE session_id = %s ORDER BY id DESC LIMIT %s".encode(),
                (session, n),
            ).fetchall()
        return list(reversed(rows))

    def clear(self, session: str) -> int:
        with self._tx("clear a session") as conn:
            return int(conn.execute("DELETE FROM turns WHERE session_id = %s", (session,)).rowcount)

    def sessions(self) -> list[str]:
        with self._tx("list sessions") as conn:
            rows = conn.execute(
                'SELECT session_id FROM turns GROUP BY session_id ORDER BY session_id COLLATE "C"'
            ).fetchall()
        return [row[0] for row in rows]

    def vectors(self, session: str, model: str) -> list[tuple[Any, ...]]:
        with self._tx("read turn vectors") as conn:
            rows = conn.execute(
                "SELECT t.id, t.session_id, t.role, t.content, t.agent, t.metadata, t.created_at, v.vector"
                " FROM turns t LEFT JOIN turn_vectors v ON v.turn_id = t.id AND v.model = %s"
                " WHERE t.session_id = %s ORDER BY t.id",
                (model, session),
            ).fetchall()
        return [(*row[:7], None if row[7] is None else bytes(row[7])) for row in rows]

    def store_vectors(self, model: str, items: list[tuple[int, bytes]]) -> None:
        with self._tx("store turn vectors") as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO turn_vectors (turn_id, model, vector) VALUES (%s, %s, %s)"
                " ON CONFLICT (turn_id, model) DO UPDATE SET vector = excluded.vector",
                [(turn_id, model, blob) for turn_id, blob in items],
            )

    def close(self) -> None:
        self._pool.close()
