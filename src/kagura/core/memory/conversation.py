"""``ConversationMemory``: conversation turns per session, persisted in SQLite or PostgreSQL.

::

    memory = ConversationMemory("~/.kagura/conversations.db", session_id="alice")
    await memory.add_turn("user", "Translate 'hello' to French")
    await memory.add_turn("assistant", "Bonjour", agent="translator")
    turns = await memory.recent(6)                # oldest first, this session only
    hits = await memory.recall("greetings", top_k=3)   # optional semantic recall (local embeddings)

The rows live in a turn store (:func:`~kagura.core.memory.stores.open_turns`; on SQLite: WAL, numbered
migrations in the ``"conversation"`` namespace), so it can share its file with other kagura stores such as
the RAG index (one ``kagura.db`` for both). Every blocking store call runs in ``asyncio.to_thread``; the
store serialises its connection, so one instance can be used from many tasks.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kagura._checks import check_choice, check_int
from kagura.core.memory.stores._open import open_turns
from kagura.core.memory.stores._url import describe_target

if TYPE_CHECKING:
    import numpy as np

    from kagura.core.memory.stores._protocol import TurnStoreProtocol

__all__ = ["ROLES", "ConversationMemory", "Turn"]

ROLES = ("assistant", "system", "user")


@dataclass(frozen=True)
class Turn:
    """One stored message. ``agent`` is the agent that produced an assistant turn, when known."""

    id: int
    session_id: str
    role: str
    content: str
    agent: str | None = None
    created_at: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


def _turn(row: tuple[Any, ...]) -> Turn:
    return Turn(row[0], row[1], row[2], row[3], row[4], row[6], json.loads(row[5]))


class ConversationMemory:
    """Persisted conversation turns for one session (``session_id``) of a store.

    ``path`` is the SQLite file (created with its parent directories), ``":memory:"``, or a
    ``postgresql://`` URL (extra ``kagura[postgres]``: the same rows in PostgreSQL, shared by every host);
    ``embedder`` is used by ``recall`` (default: the local MiniLM embedder, loaded on first use).
    """

    def __init__(
        self, path: str | os.PathLike[str], session_id: str = "default", *, embedder: Any = None
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ValueError("session_id must be a non-empty string")
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be an SQLite path or a postgresql:// URL, got {type(path).__name__}")
        self.path = path
        self.session_id = session_id
        self._embedder = embedder
        self._db: TurnStoreProtocol = open_turns(path)

    # --- blocking internals (run in worker threads) -------------------------------------------------

    def _add(self, role: str, content: str, agent: str | None, metadata: dict[str, Any]) -> Turn:
        turn_id, now = self._db.add(self.session_id, role, content, agent, metadata)
        return Turn(turn_id, self.session_id, role, content, agent, now, metadata)

    def _recent(self, n: int) -> list[Turn]:
        return [_turn(row) for row in self._db.recent(self.session_id, n)]

    def _clear(self) -> int:
        return int(self._db.clear(self.session_id))

    def _sessions(self) -> list[str]:
        return list(self._db.sessions())

    def _vectors(self, model: str) -> tuple[list[Turn], list[bytes | None]]:
        rows = self._db.vectors(self.session_id, model)
        return [_turn(row[:7]) for row in rows], [row[7] for row in rows]

    def _store_vectors(self, model: str, items: list[tuple[int, bytes]]) -> None:
        self._db.store_vectors(model, items)

    # --- public async API ---------------------------------------------------------------------------

    async def add_turn(
        self, role: str, content: str, *, agent: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Turn:
        """Append a turn to this session and return it."""
        check_choice("role", role, ROLES)
        if not isinstance(content, str):
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        return await asyncio.to_thread(self._add, role, content, agent, dict(metadata or {}))

    async def recent(self, n: int = 10) -> list[Turn]:
        """The last ``n`` turns of this session, oldest first."""
        check_int("n", n, 0)
        return await asyncio.to_thread(self._recent, n)

    async def clear(self) -> int:
        """Delete this session's turns; return how many were deleted."""
        return await asyncio.to_thread(self._clear)

    async def sessions(self) -> list[str]:
        """Every session id with at least one turn in this store."""
        return await asyncio.to_thread(self._sessions)

    async def recall(self, query: str, top_k: int = 3) -> list[tuple[Turn, float]]:
        """The ``top_k`` turns of this session most similar to ``query`` (cosine), best first.

        Turn vectors are computed on first need and stored, so each turn is embedded once per model.
        """
        check_int("top_k", top_k)
        import numpy as np

        if self._embedder is None:
            from kagura.core.memory import get_default_embedder

            self._embedder = get_default_embedder()
        embedder = self._embedder
        model = str(getattr(embedder, "name", type(embedder).__name__))
        turns, blobs = await asyncio.to_thread(self._vectors, model)
        if not turns:
            return []
        missing = [i for i, blob in enumerate(blobs) if blob is None]
        vectors: list[np.ndarray | None] = [
            None if blob is None else np.frombuffer(blob, dtype=np.float32) for blob in blobs
        ]
        if missing:
            fresh = np.asarray(await embedder.aembed([turns[i].content for i in missing]), dtype=np.float32)
            for i, row in zip(missing, fresh, strict=True):
                vectors[i] = row
            await asyncio.to_thread(
                self._store_vectors, model, [(turns[i].id, fresh[j].tobytes()) for j, i in enumerate(missing)]
            )
        matrix = np.stack([v for v in vectors if v is not None])
        query_vec = np.asarray(await embedder.aembed([query]), dtype=np.float32)[0]
        scores = matrix @ query_vec
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [(turns[int(i)], float(scores[int(i)])) for i in order]

    def close(self) -> None:
        """Close the SQLite connection or the PostgreSQL pool."""
        self._db.close()

    def __repr__(self) -> str:
        return f"ConversationMemory({describe_target(self.path)!r}, session_id={self.session_id!r})"
