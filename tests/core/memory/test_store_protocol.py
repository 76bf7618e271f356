"""One behaviour, two stores: every check here runs on an SQLite file and on a real PostgreSQL database
(``store_url``), through the protocols only: documents, chunks, claims, turns, worker access, and a
database for another package's tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores import (
    RAGStoreProtocol,
    TurnStoreProtocol,
    open_rag_store,
    open_turns,
)
from kagura.core.memory.stores._open import open_database
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol, SqlDatabase
from kagura.core.memory.stores._rows import ManifestEntry, NewDocument

EMBEDDER = "test-embedder"


def _doc(path: str, texts: list[str], *, content_hash: str = "h1") -> NewDocument:
    manifest = ManifestEntry(content_hash, "text", "x1", "p1", "m1", EMBEDDER, "c1")
    return NewDocument(
        path=path, root="/corpus", relpath=path.removeprefix("/corpus/"), mime_type="text/plain",
        size=sum(map(len, texts)), described=False, metadata={"k": "v"}, manifest=manifest,
        chunks=[ChunkPiece(t, i, None, f"s{i}", i + 1, i + 1) for i, t in enumerate(texts)],
        chunk_hashes=[f"hash-{path}-{i}" for i in range(len(texts))],
    )  # fmt: skip


def _vectors(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def store(store_url: str | Path) -> RAGStoreProtocol:
    opened = open_rag_store(store_url)
    yield opened  # type: ignore[misc]
    opened.close()


def test_both_stores_satisfy_the_protocol(store: RAGStoreProtocol) -> None:
    assert isinstance(store, RAGStoreProtocol)
    assert store.embedder() is None
    assert store.counts() == {"documents": 0, "chunks": 0, "vectors": 0, "manifest": 0}


def test_documents_round_trip_and_replace(store: RAGStoreProtocol) -> None:
    store.replace_document(_doc("/corpus/a.txt", ["alpha one", "alpha two"]), _vectors(2, 1), EMBEDDER)
    store.replace_document(_doc("/corpus/b.txt", ["beta"]), _vectors(1, 2), EMBEDDER)
    assert store.embedder() == EMBEDDER
    assert sorted(store.paths_under("/corpus")) == ["/corpus/a.txt", "/corpus/b.txt"]
    assert store.manifest_under("/corpus")["/corpus/a.txt"].content_hash == "h1"
    docs = store.documents_under("/corpus")
    assert [(d.path, d.chunks, d.metadata) for d in docs] == [
        ("/corpus/a.txt", 2, {"k": "v"}),
        ("/corpus/b.txt", 1, {"k": "v"}),
    ]
    # Writing a path again replaces its chunks and vectors in one go.
    store.replace_document(_doc("/corpus/a.txt", ["alpha new"], content_hash="h2"), _vectors(1, 3), EMBEDDER)
    assert store.counts() == {"documents": 2, "chunks": 2, "vectors": 2, "manifest": 2}
    assert store.manifest_under("/corpus")["/corpus/a.txt"].content_hash == "h2"
    assert store.delete_documents(["/corpus/b.txt", "/corpus/missing.txt"]) == 1
    assert store.paths_under("/corpus") == ["/corpus/a.txt"]
    assert store.paths_under("/elsewhere") == []


def test_chunks_searches_and_vectors_by_hash(store: RAGStoreProtocol) -> None:
    vectors = _vectors(2, 4)
    store.replace_document(
        _doc("/corpus/smtp.txt", ["smtp relay port", "unrelated words"]), vectors, EMBEDDER
    )
    hits = store.vector_search(EMBEDDER, vectors[1], 2, exact=True)
    assert hits[0][1] == pytest.approx(1.0, abs=1e-4)
    chunk_id = hits[0][0]
    row = store.chunks([chunk_id])[chunk_id]
    assert (row.text, row.path, row.relpath, row.section, row.start_line) == (
        "unrelated words", "/corpus/smtp.txt", "smtp.txt", "s1", 2,
    )  # fmt: skip
    keyword = store.keyword_search("smtp port", 5)
    # Both chunks match by the file name; the one saying the words in its text ranks first.
    assert [store.chunks([cid])[cid].text for cid, _ in keyword] == ["smtp relay port", "unrelated words"]
    assert keyword[0][1] > keyword[1][1]
    assert store.keyword_search("smtp", 5, file_type="image") == []
    found = store.vectors_for_hashes(["hash-/corpus/smtp.txt-0", "nope"])
    assert list(found) == ["hash-/corpus/smtp.txt-0"]
    np.testing.assert_allclose(found["hash-/corpus/smtp.txt-0"], vectors[0], rtol=1e-6)
    exported = list(store.export_documents())
    assert [(e.doc.path, e.embedder, e.vectors.shape) for e in exported] == [
        ("/corpus/smtp.txt", EMBEDDER, (2, 8))
    ]


def test_claims_come_from_the_store(store: RAGStoreProtocol) -> None:
    first, second = store.open_claims(), store.open_claims()
    try:
        assert isinstance(first, DescriptionClaimsProtocol)
        assert first.try_claim("/corpus/a.png") is None
        assert second.try_claim("/corpus/a.png") == first.owner
        assert first.try_claim("/corpus/a.png") is None  # ours already
        first.release("/corpus/a.png")
        assert second.try_claim("/corpus/a.png") is None
        second.release_all()
        assert first.described("/corpus/a.txt") is None
        store.replace_document(_doc("/corpus/a.txt", ["x"]), _vectors(1, 5), EMBEDDER)
        assert first.described("/corpus/a.txt") == ("h1", "p1", "m1")
        # A worker claims for its driver: the driver's identity holds the claim.
        worker = second.acting_for(first.identity)  # type: ignore[attr-defined]
        assert worker.try_claim("/corpus/b.png") is None
        assert first.try_claim("/corpus/b.png") is None
    finally:
        first.close()
        second.close()


def test_worker_access_answers_what_workers_open(store: RAGStoreProtocol, store_url: str | Path) -> None:
    access = store.worker_access()
    assert access.target == os.fspath(store_url)
    assert access.shared is isinstance(store_url, str)  # a server any host reaches; a file on this host
    assert "://" not in repr(access)  # the target may carry a password: never in a repr


def test_turns_round_trip(store_url: str | Path) -> None:
    turns = open_turns(store_url)
    try:
        assert isinstance(turns, TurnStoreProtocol)
        assert "password" not in turns.location
        first, when = turns.add("alice", "user", "hello", None, {"lang": "en"})
        turns.add("alice", "assistant", "bonjour", "translator", {})
        turns.add("bob", "user", "hi", None, {})
        rows = turns.recent("alice", 5)
        assert [(r[0], r[2], r[3], r[4], json.loads(r[5])) for r in rows] == [
            (first, "user", "hello", None, {"lang": "en"}),
            (rows[1][0], "assistant", "bonjour", "translator", {}),
        ]
        assert rows[0][6] == pytest.approx(when)
        assert [r[3] for r in turns.recent("alice", 1)] == ["bonjour"]
        assert turns.sessions() == ["alice", "bob"]
        turns.store_vectors("m", [(first, b"\x00" * 8)])
        with_vectors = turns.vectors("alice", "m")
        assert [(r[0], r[7]) for r in with_vectors] == [(first, b"\x00" * 8), (rows[1][0], None)]
        assert turns.clear("alice") == 2
        assert turns.sessions() == ["bob"]
    finally:
        turns.close()


def test_turns_refuse_a_target_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="SQLite path or a postgresql:// URL"):
        open_turns(42)  # type: ignore[arg-type]


def test_a_database_for_other_tables(store_url: str | Path) -> None:
    steps = ["CREATE TABLE items (name TEXT PRIMARY KEY, n INTEGER NOT NULL)"]
    db = open_database(store_url, steps, namespace="items", what="ledger", doing="write items")
    try:
        assert isinstance(db, SqlDatabase)
        assert "password" not in db.location
        with db.transaction() as conn:
            db.executemany(conn, "INSERT INTO items (name, n) VALUES (?, ?)", [("a", 1), ("b", 2)])
        with pytest.raises(RuntimeError, match="undo"), db.transaction() as conn:
            conn.execute(db.sql("UPDATE items SET n = ? WHERE name = ?"), (9, "a"))
            raise RuntimeError("undo")
        rows = list(db.stream(db.sql("SELECT name, n FROM items WHERE n >= ? ORDER BY name"), (1,)))
        assert [tuple(r) for r in rows] == [("a", 1), ("b", 2)]
    finally:
        db.close()
    with pytest.raises(TypeError, match="ledger must be a path to an SQLite file or a postgresql:// URL"):
        open_database(3, steps, namespace="items", what="ledger", doing="write items")  # type: ignore[arg-type]
