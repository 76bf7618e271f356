"""One migration runner for every kagura database: files written by the code before it (an LLM cache with its
``PRAGMA user_version``, a RAG store and a job ledger at older namespaced versions) open unchanged, keep
their rows and end with the right bookkeeping; the same runner drives PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from kagura._migrations import run_migrations
from kagura._sqlite import SQLiteSchema, connect, migrate
from kagura.core.llm._cache import ResponseCache
from kagura.core.llm._types import LLMResponse, Usage
from kagura.core.memory.stores.sqlite._schema import RAG_MIGRATIONS
from kagura.core.memory.stores.sqlite._store import RAGStore
from kagura.errors import StoreError
from kagura.jobs._ledgers import open_ledger
from kagura.jobs._records import JOB_MIGRATIONS

# The LLM cache's schema as the code before the shared runner wrote it (its own user_version loop).
_OLD_CACHE_SCHEMA = """CREATE TABLE responses (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL
)"""


def _versions(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT namespace, version FROM kagura_schema").fetchall())


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _old_cache(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(_OLD_CACHE_SCHEMA)
        conn.execute(
            "INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("k1", "cached answer", "m", "openai", 3, 4, time.time(), None),
        )
        conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_an_llm_cache_written_by_the_old_code_keeps_its_answers(tmp_path: Path) -> None:
    path = tmp_path / "llm-cache.db"
    _old_cache(path)
    cache = ResponseCache(path)
    hit = cache.get_blocking("k1")
    assert hit is not None and (hit.text, hit.usage.prompt_tokens, hit.cached) == ("cached answer", 3, True)
    # The version was adopted from user_version (the table was not created again) and is now a namespace.
    assert _versions(path) == {"llm-cache": 1}
    assert _user_version(path) == 1  # read, never written
    cache.put_blocking("k2", LLMResponse("new", Usage(1, 1), model="m", provider="openai"), ttl=None)
    assert cache.count_sync() == 2


def test_a_new_llm_cache_records_its_namespace(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    cache = ResponseCache(path)
    assert cache.count_sync() == 0
    assert _versions(path) == {"llm-cache": 1}
    assert _user_version(path) == 0


def test_an_llm_cache_from_a_newer_kagura_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _old_cache(path)
    conn = connect(path)
    migrate(
        conn,
        [_OLD_CACHE_SCHEMA, "CREATE TABLE later (x)"],
        namespace="llm-cache",
        legacy_probe_table="responses",
    )
    conn.close()
    with pytest.raises(
        StoreError, match="'llm-cache' schema version 2 is newer than this kagura supports \\(1\\)"
    ):
        ResponseCache(path).count_sync()


def test_a_rag_store_at_an_older_version_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "kagura.db"
    conn = sqlite3.connect(path)
    with conn:  # what kagura wrote at RAG schema 1 (namespaced)
        conn.executescript(str(RAG_MIGRATIONS[0]))
        conn.execute("CREATE TABLE kagura_schema (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute("INSERT INTO kagura_schema VALUES ('rag', 1)")
        conn.execute(
            "INSERT INTO rag_documents (id, path, root, relpath, file_type, mime_type, content_hash, size,"
            " indexed_at) VALUES (1, '/c/a.md', '/c', 'a.md', 'markdown', 'text/markdown', 'h', 5, 0)"
        )
        conn.execute(
            "INSERT INTO rag_chunks (id, document_id, ordinal, text, file_type)"
            " VALUES (7, 1, 0, 'deploy with helm', 'markdown')"
        )
        conn.execute("INSERT INTO rag_vectors VALUES (7, 'e', 2, ?)", (b"\x00\x00\x80?\x00\x00\x00\x00",))
    conn.close()
    store = RAGStore(path)
    try:
        assert _versions(path) == {"rag": len(RAG_MIGRATIONS)}
        row = store.chunks([7])[7]
        assert (row.text, row.path, row.start_line) == ("deploy with helm", "/c/a.md", None)
        assert [cid for cid, _ in store.keyword_search("helm", 3)] == [7]  # migration 2 filled the index
        assert store.embedder() == "e"
    finally:
        store.close()


def test_a_job_ledger_at_an_older_version_keeps_its_items(tmp_path: Path) -> None:
    path = tmp_path / "run.ledger.db"
    conn = sqlite3.connect(path)
    with conn:  # a ledger written when the jobs namespace had two migrations
        for script in JOB_MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute("CREATE TABLE kagura_schema (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute("INSERT INTO kagura_schema VALUES ('jobs', 2)")
        conn.execute(
            "INSERT INTO job_items (job, custom_id, line, url, body, body_hash, state, prompt_tokens,"
            " completion_tokens, cost_usd) VALUES ('j', 'a', 1, '/v1/chat/completions', '{}', 'x', 'done',"
            " 10, 5, 0.25)"
        )
    conn.close()
    ledger = open_ledger(path, "j")
    try:
        counts = ledger.counts()
        assert (counts.done, counts.prompt_tokens, counts.cost_usd) == (1, 10, 0.25)
    finally:
        ledger.close()
    assert _versions(path) == {"jobs": len(JOB_MIGRATIONS)}
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT via FROM job_items").fetchall() == [("online",)]


def test_an_up_to_date_database_is_only_read(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a.db")
    assert migrate(conn, ["CREATE TABLE t (x)"], namespace="t") == 1
    writes = conn.total_changes
    conn.execute("BEGIN")  # a read transaction open on this connection: migrating must not need to write
    assert run_migrations(SQLiteSchema(conn), ["CREATE TABLE t (x)"], namespace="t") == 1
    conn.rollback()
    assert conn.total_changes == writes


def test_the_same_runner_drives_postgresql(postgres_url: str) -> None:
    from kagura.core.memory.stores.postgres._connect import migrate as pg_migrate
    from kagura.core.memory.stores.postgres._connect import open_pool

    pool = open_pool(postgres_url, max_size=2)
    try:
        seen: list[int] = []

        def seed(conn: object) -> None:
            seen.append(1)
            conn.execute("INSERT INTO notes (body) VALUES ('kept')")  # type: ignore[attr-defined]

        steps = ["CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)", seed]
        assert pg_migrate(pool, postgres_url, steps, namespace="notes") == 2
        assert pg_migrate(pool, postgres_url, steps, namespace="notes") == 2  # nothing runs twice
        assert seen == [1]
        # A failing step is rolled back alone; the steps before it stay, as in SQLite.
        with pytest.raises(StoreError, match="'notes' schema"):
            pg_migrate(
                pool,
                postgres_url,
                [*steps, "ALTER TABLE notes ADD COLUMN x INT", "BROKEN SQL"],
                namespace="notes",
            )
        assert (
            pg_migrate(pool, postgres_url, [*steps, "ALTER TABLE notes ADD COLUMN x INT"], namespace="notes")
            == 3
        )
        with pytest.raises(
            StoreError, match="'notes' schema version 3 is newer than this kagura supports \\(2\\)"
        ):
            pg_migrate(pool, postgres_url, steps, namespace="notes")
        with pool.connection() as conn:
            assert conn.execute("SELECT body, x FROM notes").fetchall() == [("kept", None)]
    finally:
        pool.close()
