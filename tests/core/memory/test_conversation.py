"""ConversationMemory on real SQLite files (and, for the tests taking ``store_url``, on PostgreSQL too)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from kagura.core.memory import ConversationMemory
from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores._rows import ManifestEntry, NewDocument
from kagura.core.memory.stores.sqlite._schema import RAG_MIGRATIONS
from kagura.core.memory.stores.sqlite._store import RAGStore
from kagura.core.memory.stores.sqlite._turns import TURN_MIGRATIONS as MIGRATIONS
from kagura.errors import StoreError


def _document(path: str, texts: list[str]) -> NewDocument:
    manifest = ManifestEntry("h", "text", "1", "", "", "emb", "800/120")
    chunks = [ChunkPiece(text, i) for i, text in enumerate(texts)]
    return NewDocument(
        path, "/notes", path.removeprefix("/notes/"), "text/plain", 10, False, {}, manifest, chunks
    )


async def test_turns_persist_across_instances(store_url: str | Path) -> None:
    path = store_url
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


async def test_sessions_are_isolated_and_recent_n_is_oldest_first(store_url: str | Path) -> None:
    path = store_url
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


async def test_concurrent_writers_lose_nothing(store_url: str | Path) -> None:
    memory = ConversationMemory(store_url)
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
    conn.execute("UPDATE kagura_schema SET version = 99 WHERE namespace = 'conversation'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="'conversation' schema version 99 is newer"):
        ConversationMemory(path)


async def test_rag_store_and_conversation_memory_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "kagura.db"
    store = RAGStore(path)
    memory = ConversationMemory(path, session_id="alice")
    await memory.add_turn("user", "index my notes")
    vectors = np.eye(2, 8, dtype=np.float32)
    store.replace_document(_document("/notes/a.txt", ["alpha", "beta"]), vectors, "emb")
    await memory.add_turn("assistant", "done", agent="indexer")
    memory.close()
    store.close()

    # Reopen both, in the other order: each finds its own data and schema.
    memory = ConversationMemory(path, session_id="alice")
    store = RAGStore(path)
    assert [(t.role, t.content) for t in await memory.recent()] == [
        ("user", "index my notes"),
        ("assistant", "done"),
    ]
    assert store.counts() == {"documents": 1, "chunks": 2, "vectors": 2, "manifest": 1}
    np.testing.assert_array_equal(store.vector_index("emb").matrix, vectors)
    assert [d.path for d in store.documents_under("/notes")] == ["/notes/a.txt"]
    memory.close()
    store.close()
    conn = sqlite3.connect(path)
    versions = dict(conn.execute("SELECT namespace, version FROM kagura_schema").fetchall())
    conn.close()
    assert versions == {"rag": len(RAG_MIGRATIONS), "conversation": len(MIGRATIONS)}


async def test_legacy_conversation_file_is_adopted_with_its_turns(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    memory = ConversationMemory(path)
    await memory.add_turn("user", "from the old days")
    memory.close()
    # As written before namespaces: no kagura_schema table, the version in user_version.
    conn = sqlite3.connect(path)
    conn.executescript(f"DROP TABLE kagura_schema; PRAGMA user_version = {len(MIGRATIONS)};")
    conn.close()
    memory = ConversationMemory(path)  # re-running migration 1 would fail: table turns already exists
    assert [t.content for t in await memory.recent()] == ["from the old days"]
    memory.close()


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


async def test_recall_on_postgres_matches_sqlite(tmp_path: Path, postgres_url: str) -> None:
    scores = []
    for target in (tmp_path / "c.db", postgres_url):
        memory = ConversationMemory(target, session_id="s")
        for text in (
            "Translate 'good morning' into German",
            "Will it rain in Osaka tomorrow?",
            "Coffee beans",
        ):
            await memory.add_turn("user", text)
        scores.append([(t.content, round(s, 5)) for t, s in await memory.recall("umbrella weather", top_k=3)])
        again = await memory.recall("umbrella weather", top_k=3)  # from the stored vectors this time
        assert [(t.content, round(s, 5)) for t, s in again] == scores[-1]
        memory.close()
    assert scores[0] == scores[1]


async def test_postgres_errors_never_show_the_password() -> None:
    url = "postgresql://kagura:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as caught:
        ConversationMemory(url)
    assert "s3cret-pw" not in str(caught.value) and "kagura:***@127.0.0.1:1" in str(caught.value)
    assert "s3cret-pw" not in repr(caught.value.__cause__) + repr(caught.value.__context__)
