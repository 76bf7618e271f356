"""Keyword search on PostgreSQL ranks exactly like SQLite's FTS5 ``bm25()``: random corpora written to both
stores through the store API, random queries, the same chunks in the same order with the same scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores import RAGStoreProtocol
from kagura.core.memory.stores.postgres import PostgresRAGStore
from kagura.core.memory.stores.postgres._bm25 import keyword_sql
from kagura.core.memory.stores.postgres._connect import migrate, open_pool
from kagura.core.memory.stores.postgres._schema import RAG_MIGRATIONS
from kagura.core.memory.stores.postgres._unicode61 import fts5_tokens
from kagura.core.memory.stores.sqlite._store import ManifestEntry, NewDocument, RAGStore

VOCAB = (
    # plain words, a stop word, words sharing Porter stems
    "the is data store index query connect connected connecting connection connections generalize"
    " generalization relational relate running runs ran happily happiness"
    # underscores and digits (phrases of several tokens), accented and non-Latin words
    " smtp_ssl_port ssl_port x86_64 utf8 v2 2024 __init__ café cafe naïve Résumé résumé Ölfeld"
    " данные Данные 数据 καλημέρα Ωmega Straße"
).split()

_words = st.lists(st.sampled_from(VOCAB), min_size=0, max_size=12).map(" ".join)
_document = st.fixed_dictionaries(
    {
        "name": st.sampled_from(VOCAB[:12]).map(lambda w: f"{w}.py"),
        "folder": st.sampled_from(["src", "docs/guides", "data_ssl_port", "cafés"]),
        "file_type": st.sampled_from(["text", "code"]),
        "chunks": st.lists(st.tuples(_words, st.one_of(st.none(), _words)), min_size=1, max_size=4),
    }
)
_query = st.lists(st.sampled_from([*VOCAB, "connects", "CONNECTING", "ssl", "port", "nothing"]),
                  min_size=1, max_size=4).map(" ".join)  # fmt: skip
_search = st.tuples(_query, st.integers(1, 30), st.sampled_from([None, "text", "code"]))


def _new_document(i: int, spec: dict) -> NewDocument:
    relpath = f"{spec['folder']}/{i}_{spec['name']}"
    manifest = ManifestEntry(f"h{i}", spec["file_type"], "1", "", "", "emb", "800/120")
    chunks = [ChunkPiece(text, j, section=section) for j, (text, section) in enumerate(spec["chunks"])]
    return NewDocument(f"/root/{relpath}", "/root", relpath, "text/plain", 1, False, {}, manifest, chunks)


def _write(store: RAGStoreProtocol, docs: list[NewDocument]) -> None:
    for doc in docs:
        store.replace_document(doc, np.ones((len(doc.chunks), 4), dtype=np.float32), "emb")


def _ranking(store: RAGStoreProtocol, query: str, limit: int, file_type: str | None) -> list[tuple]:
    """``((path, text, section), score)`` best first: chunk ids differ between the stores, chunks do not."""
    hits = store.keyword_search(query, limit, file_type)
    rows = store.chunks([cid for cid, _ in hits])
    return [((rows[cid].path, rows[cid].text, rows[cid].section), score) for cid, score in hits]


def _assert_same(sqlite: RAGStoreProtocol, pg: RAGStoreProtocol, query: str, limit: int,
                 file_type: str | None) -> None:  # fmt: skip
    want = _ranking(sqlite, query, limit, file_type)
    got = _ranking(pg, query, limit, file_type)
    assert [key for key, _ in got] == [key for key, _ in want], query
    for (_, a), (_, b) in zip(got, want, strict=True):
        assert math.isclose(a, b, rel_tol=1e-6), (query, a, b)


def _clear(store: RAGStoreProtocol) -> None:
    store.delete_documents(store.paths_under("/root"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    docs=st.lists(_document, min_size=1, max_size=6),
    replaced=st.lists(st.integers(0, 5), max_size=2),
    deleted=st.lists(st.integers(0, 5), max_size=2),
    queries=st.lists(_search, min_size=1, max_size=4),
)
def test_keyword_search_ranks_like_sqlite_fts5(
    tmp_path: Path,
    postgres_url: str,
    docs: list[dict],
    replaced: list[int],
    deleted: list[int],
    queries: list[tuple],
) -> None:
    sqlite, pg = RAGStore(tmp_path / "kagura.db"), PostgresRAGStore(postgres_url)
    try:
        for store in (sqlite, pg):
            _clear(store)
            new = [_new_document(i, spec) for i, spec in enumerate(docs)]
            _write(store, new)
            # replaced files (their old chunks leave the statistics) and deleted ones
            _write(store, [_new_document(i, docs[(i + 1) % len(docs)]) for i in replaced if i < len(docs)])
            store.delete_documents([new[i].path for i in deleted if i < len(new)])
        for query, limit, file_type in queries:
            _assert_same(sqlite, pg, query, limit, file_type)
    finally:
        sqlite.close()
        pg.close()


def test_scores_are_fts5_bm25_to_the_last_bit(tmp_path: Path, postgres_url: str) -> None:
    spec = {"name": "connect.py", "folder": "src", "file_type": "code",
            "chunks": [("connect connected the ssl_port", "connection"), ("data index data", None),
                       ("relational data connecting", "smtp_ssl_port")]}  # fmt: skip
    docs = [_new_document(i, spec) for i in range(3)]
    sqlite, pg = RAGStore(tmp_path / "kagura.db"), PostgresRAGStore(postgres_url)
    _write(sqlite, docs)
    _write(pg, docs)
    want = sqlite.keyword_search("connecting ssl_port data", 20)
    got = pg.keyword_search("connecting ssl_port data", 20)
    assert len(got) == 9
    assert [s for _, s in got] == [s for _, s in want]  # exactly, not approximately
    sqlite.close()
    pg.close()


def test_migration_2_rebuilds_the_keyword_index_of_an_older_store(tmp_path: Path, postgres_url: str) -> None:
    """A store written by migration 1 (English tsvector) ranks like SQLite after opening with this kagura."""
    spec = {"name": "connect.py", "folder": "src", "file_type": "text",
            "chunks": [("connecting the données", "smtp_ssl_port"), ("ssl port data", None)]}  # fmt: skip
    docs = [_new_document(i, spec) for i in range(4)]
    pool = open_pool(postgres_url)
    migrate(pool, postgres_url, RAG_MIGRATIONS[:1], namespace="rag")
    with pool.connection() as conn:
        for doc in docs:
            [doc_id] = conn.execute(
                "INSERT INTO rag_documents (path, root, relpath, file_type, mime_type, content_hash, size,"
                " indexed_at) VALUES (%s, '/root', %s, 'text', 'text/plain', 'h', 1, 0) RETURNING id",
                (doc.path, doc.relpath),
            ).fetchone()
            for chunk in doc.chunks:
                conn.execute(
                    "INSERT INTO rag_chunks (document_id, ordinal, text, section, file_type, tsv)"
                    " VALUES (%s, %s, %s, %s, 'text', to_tsvector('english', %s))",
                    (doc_id, chunk.ordinal, chunk.text, chunk.section, chunk.text),
                )
    pool.close()
    pg = PostgresRAGStore(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        version = conn.execute("SELECT version FROM kagura_schema WHERE namespace = 'rag'").fetchone()
        assert version == (len(RAG_MIGRATIONS),)
        tokens = sum(
            len(fts5_tokens(c.text)) + len(fts5_tokens(c.section or "")) + len(fts5_tokens(d.relpath))
            + len(fts5_tokens(Path(d.relpath).name)) for d in docs for c in d.chunks
        )  # fmt: skip
        assert conn.execute("SELECT sum(n_rows), sum(n_tokens) FROM rag_kw_stats").fetchone() == (8, tokens)
    sqlite = RAGStore(tmp_path / "kagura.db")
    _write(sqlite, docs)
    for query in ("connect", "ssl_port données", "smtp port"):
        _assert_same(sqlite, pg, query, 10, None)
    sqlite.close()
    pg.close()


@pytest.mark.parametrize("query", ["", "   ", "!!! ???", "___"])
def test_a_query_without_tokens_finds_nothing_on_both(tmp_path: Path, postgres_url: str, query: str) -> None:
    spec = {"name": "a.py", "folder": "src", "file_type": "text", "chunks": [("connect ___ data", None)]}
    sqlite, pg = RAGStore(tmp_path / "kagura.db"), PostgresRAGStore(postgres_url)
    for store in (sqlite, pg):
        _write(store, [_new_document(0, spec)])
    assert pg.keyword_search(query, 5) == sqlite.keyword_search(query, 5) == []
    sqlite.close()
    pg.close()


def test_a_token_too_long_for_an_index_entry_is_stored_and_found(tmp_path: Path, postgres_url: str) -> None:
    """Tokens are indexed by hash: a 5,000-character token (a blob, or CJK text without punctuation) is
    stored, found and ranked as in SQLite."""
    blob, cjk = "ab" * 2500, "数据" * 600
    chunks = [(f"{blob} connect", None), (f"{cjk} data", "section"), ("data connect", None)]
    spec = {"name": "a.py", "folder": "src", "file_type": "text", "chunks": chunks}
    sqlite, pg = RAGStore(tmp_path / "kagura.db"), PostgresRAGStore(postgres_url)
    for store in (sqlite, pg):
        _write(store, [_new_document(0, spec)])
    for query in (blob, cjk, f"{blob} data", "connect"):
        assert pg.keyword_search(query, 5)
        _assert_same(sqlite, pg, query, 5, None)
    sqlite.close()
    pg.close()


def test_the_candidate_lookup_can_use_the_gin_index(postgres_url: str) -> None:
    PostgresRAGStore(postgres_url).close()
    sql, params = keyword_sql("connect ssl_port", 10, "text") or (b"", [])
    with psycopg.connect(postgres_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(b"EXPLAIN " + sql, params).fetchall())
    assert "rag_chunks_kw" in plan, plan


def test_the_statistics_follow_every_insert_update_and_delete(postgres_url: str) -> None:
    spec = {
        "name": "a.py",
        "folder": "src",
        "file_type": "text",
        "chunks": [("connect data", "s"), ("x", None)],
    }
    pg = PostgresRAGStore(postgres_url)
    _write(pg, [_new_document(i, spec) for i in range(3)])
    pg.delete_documents(["/root/src/1_a.py"])
    actual = "SELECT count(*), coalesce(sum(kw_len), 0) FROM rag_chunks"
    kept = "SELECT sum(n_rows), sum(n_tokens) FROM rag_kw_stats"
    with psycopg.connect(postgres_url) as conn:
        assert (
            conn.execute(kept).fetchone() == conn.execute(actual).fetchone() == (4, 2 * (10 + 8))
        )  # path 4 + name 3 tokens
        conn.execute("UPDATE rag_chunks SET kw_len = kw_len + 1 WHERE ordinal = 0")
        assert conn.execute(kept).fetchone() == conn.execute(actual).fetchone() == (4, 38)
    pg.close()
