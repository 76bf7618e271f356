"""What only the PostgreSQL store has: schema refusal by name, HNSW vs exact, claims across processes, and
copies between SQLite and PostgreSQL without re-embedding."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from pathlib import Path

import numpy as np
import psycopg
import pytest

from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores import HNSWParams, copy_store, open_rag_store, redact_url
from kagura.core.memory.stores._vectors import top_k_cosine
from kagura.core.memory.stores.postgres import PostgresClaims, PostgresRAGStore
from kagura.core.memory.stores.sqlite._store import ManifestEntry, NewDocument
from kagura.errors import StoreError


def _doc(i: int, n: int, file_type: str = "text") -> NewDocument:
    manifest = ManifestEntry(f"h{i}", file_type, "1", "p1", "m1", "emb", "800/120")
    chunks = [
        ChunkPiece(f"document {i} chunk {j} word{j % 7}", j, page=j, section=f"s{j % 3}") for j in range(n)
    ]
    return NewDocument(
        f"/root/d{i:03}.txt", "/root", f"d{i:03}.txt", "text/plain", 10 + i, i % 2 == 0,
        {"i": i, "tags": ["a"]}, manifest, chunks, chunk_hashes=[f"c{i}-{j}" for j in range(n)],
    )  # fmt: skip


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 20 centres: neighbours exist, as in real embeddings (uniform noise has none)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim)).astype(np.float32)
    v = centres[rng.integers(0, 20, n)] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_newer_rag_schema_is_refused_by_name(postgres_url: str) -> None:
    PostgresRAGStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE kagura_schema SET version = 99 WHERE namespace = 'rag'")
    with pytest.raises(StoreError, match="'rag' schema version 99 is newer than this kagura supports"):
        PostgresRAGStore(postgres_url)


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgresql://u:pw@db.example:5433/x?sslmode=require") == (
        "postgresql://u:***@db.example:5433/x?sslmode=require"
    )
    assert redact_url("postgresql://u@db/x") == "postgresql://u@db/x"


def test_hnsw_finds_what_exact_search_finds(postgres_url: str) -> None:
    vecs = _clustered(2000, 32, seed=1)
    store = PostgresRAGStore(postgres_url, hnsw=HNSWParams(m=16, ef_construction=64, ef_search=400))
    for i in range(40):
        store.replace_document(_doc(i, 50), vecs[i * 50 : (i + 1) * 50], "emb")
    ids = np.array(sorted(cid for cid, _ in store.vector_search("emb", vecs[0], 5000, exact=True)))
    queries = _clustered(30, 32, seed=2)
    found = 0
    for q in queries:
        exact = store.vector_search("emb", q, 10, exact=True)
        # exact search on PostgreSQL is numpy's exact search: its hits score what numpy's best ten score
        # (ids may swap only between near-equal scores, which float rounding orders either way)
        reference = top_k_cosine(vecs, q, 10)
        rows = {int(cid): row for row, cid in enumerate(ids)}
        np.testing.assert_allclose(
            [float(vecs[rows[c]] @ q) for c, _ in exact], [s for _, s in reference], atol=1e-5
        )
        np.testing.assert_allclose([s for _, s in exact], [s for _, s in reference], atol=1e-5)
        approx = store.vector_search("emb", q, 10)
        found += len({c for c, _ in approx} & {c for c, _ in exact})
    assert found / (10 * len(queries)) >= 0.95
    store.close()


def test_a_type_filter_never_returns_fewer_than_exist(postgres_url: str) -> None:
    store = PostgresRAGStore(postgres_url)
    vecs = _clustered(300, 16, seed=3)
    for i in range(30):
        store.replace_document(
            _doc(i, 10, "markdown" if i == 7 else "text"), vecs[i * 10 : (i + 1) * 10], "emb"
        )
    hits = store.vector_search("emb", vecs[0], 10, file_type="markdown")
    assert len(hits) == 10 and {r.file_type for r in store.chunks([c for c, _ in hits]).values()} == {
        "markdown"
    }
    store.close()


def _claim_and_exit(url: str, path: str) -> None:
    claims = PostgresClaims(url)
    assert claims.try_claim(path) is None
    claims._pool.close()  # dies holding the claim, as a crashed worker would


def test_claims_exclude_others_until_released_expired_or_dead(postgres_url: str) -> None:
    first, second = PostgresClaims(postgres_url), PostgresClaims(postgres_url)
    assert first.try_claim("/a") is None
    assert first.try_claim("/a") is None  # ours already: claiming again is fine
    assert second.try_claim("/a") == first.owner
    first.release("/a")
    assert second.try_claim("/a") is None and first.try_claim("/a") == second.owner
    # A claim of a worker on another host whose expiry has passed is taken over; a live one is not.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE rag_claims SET host = 'elsewhere', expires_at = 4102444800 WHERE path = '/a'")
        assert first.try_claim("/a") == second.owner
        conn.execute("UPDATE rag_claims SET expires_at = 1 WHERE path = '/a'")
    assert first.try_claim("/a") is None
    # A process on this host that died holding a claim loses it at once.
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_claim_and_exit, args=(postgres_url, "/b"))
    child.start()
    child.join()
    assert child.exitcode == 0
    assert second.try_claim("/b") is None
    second.release_all()
    assert first.try_claim("/b") is None
    first.close()
    second.close()


def test_migrate_sqlite_to_postgres_and_back_keeps_vectors_and_results(
    tmp_path: Path, postgres_url: str
) -> None:
    vecs = _clustered(400, 24, seed=4)
    sqlite = open_rag_store(tmp_path / "a.db")
    for i in range(20):
        sqlite.replace_document(_doc(i, 20), vecs[i * 20 : (i + 1) * 20], "emb")
    pg = open_rag_store(postgres_url)
    assert copy_store(sqlite, pg) == 20
    back = open_rag_store(tmp_path / "b.db")
    assert copy_store(pg, back) == 20
    for store in (pg, back):
        assert store.counts() == sqlite.counts()
        assert store.embedder() == "emb"
    originals = list(sqlite.export_documents())
    for store in (pg, back):
        copies = list(store.export_documents())
        assert [c.doc for c in copies] == [o.doc for o in originals]  # chunks, hashes, manifest, metadata
        for c, o in zip(copies, originals, strict=True):
            np.testing.assert_array_equal(c.vectors, o.vectors)  # bit for bit: nothing re-embedded

    def texts(store: object, q: np.ndarray) -> list[str]:
        hits = store.vector_search("emb", q, 10, exact=True)  # type: ignore[attr-defined]
        rows = store.chunks([c for c, _ in hits])  # type: ignore[attr-defined]
        return [rows[c].text for c, _ in hits]

    for q in _clustered(10, 24, seed=5):
        assert texts(sqlite, q) == texts(pg, q) == texts(back, q)
    for words in ("word3 chunk", "document 7"):
        kw = [[s.chunks([c])[c].text for c, _ in s.keyword_search(words, 5)] for s in (sqlite, back)]
        assert kw[0] == kw[1]
    with pytest.raises(StoreError, match="'other', not 'emb'"):
        copy_store(sqlite, _other_embedder_store(tmp_path / "c.db"))
    for store in (sqlite, pg, back):
        store.close()


def _other_embedder_store(path: Path) -> object:
    store = open_rag_store(path)
    store.replace_document(replace(_doc(99, 1), path="/root/x.txt"), _clustered(1, 24, 6), "other")
    return store
