"""ConversationMemory on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kagura.core.memory import ConversationMemory
from kagura.errors import StoreError


async def test_turns_persist_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "conversations.db"
    first = ConversationMemory(path, session_id="alice")
    await first.add_turn("user", "Translate 'hello' to French")
    await first.add_turn(
        "assistant", "Bonjour", agent="translator", metadata={"lang": "fr", "ja": "こんにちは"}
    )
    first.close()

    second = ConversationMemory(path, session_id="alice")
    turns = await second.recent(10)
    assert [(t.role, t.content, t.agent) for t in turns] == [
        ("user", "Translate 'hello' to French", None),
        ("assistant", "Bonjour", "translator"),
    ]
    assert turns[1].metadata == {"lang": "fr", "ja": "こんにちは"}
    assert turns[0].id < turns[1].id and turns[0].created_at <= turns[1].created_at
    second.close()


async def test_sessions_are_isolated_and_recent_n_is_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    alice = ConversationMemory(path, session_id="alice")
    bob = ConversationMemory(path, session_id="bob")
    for i in range(5):
        await alice.add_turn("user", f"alice {i}")
        await bob.add_turn("user", f"bob {i}")
    assert [t.content for t in await alice.recent(3)] == ["alice 2", "alice 3", "alice 4"]
    assert [t.content for t in await bob.recent(2)] == ["bob 3", "bob 4"]
    assert await alice.recent(0) == []
    assert await alice.sessions() == ["alice", "bob"]
    assert await alice.clear() == 5
    assert await alice.recent() == []
    assert len(await bob.recent()) == 5
    alice.close()
    bob.close()


async def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    memory = ConversationMemory(tmp_path / "c.db")
    await asyncio.gather(*(memory.add_turn("user", f"m{i}") for i in range(40)))
    assert sorted(t.content for t in await memory.recent(100)) == sorted(f"m{i}" for i in range(40))
    memory.close()


async def test_bad_arguments_and_bad_files(tmp_path: Path) -> None:
    memory = ConversationMemory(tmp_path / "c.db")
    with pytest.raises(ValueError, match="role"):
        await memory.add_turn("robot", "hi")
    with pytest.raises(TypeError, match="content"):
        await memory.add_turn("user", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must"):
        await memory.recent(-1)
    with pytest.raises(ValueError, match="session_id"):
        ConversationMemory(tmp_path / "c.db", session_id="")
    memory.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError):
        ConversationMemory(garbage)


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    ConversationMemory(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        ConversationMemory(path)


async def test_semantic_recall_with_the_local_embedder(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    memory = ConversationMemory(path)
    await memory.add_turn("user", "Translate 'good morning' into German")
    await memory.add_turn("user", "Will it rain in Osaka tomorrow?")
    await memory.add_turn("user", "Order two bags of coffee beans")
    hits = await memory.recall("weather forecast umbrella", top_k=2)
    assert hits[0][0].content == "Will it rain in Osaka tomorrow?"
    assert hits[0][1] > hits[1][1]
    memory.close()
    # vectors were stored: a second instance recalls the same without re-embedding anything new
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM turn_vectors").fetchone()[0] == 3
    conn.close()
