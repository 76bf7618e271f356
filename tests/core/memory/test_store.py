import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores import RAGStoreProtocol, open_rag_store
from kagura.core.memory.stores.sqlite._schema import RAG_MIGRATIONS
from kagura.core.memory.stores.sqlite._store import ManifestEntry, NewDocument, RAGStore
from kagura.errors import StoreError

# Tests taking ``store_url`` run on SQLite and on PostgreSQL (conftest); the others are about SQLite files.


def _doc(path: str, n: int, *, text: str = "chunk", file_type: str = "text") -> NewDocument:
    manifest = ManifestEntry("h-" + path, file_type, "1", "", "", "emb", "800/120")
    chunks = [ChunkPiece(f"{text} {i}", i, page=i + 1) for i in range(n)]
    return NewDocument(path, "/root", path.removeprefix("/root/"), "text/plain", 10, False, {"k": 1},
                       manifest, chunks)  # fmt: skip


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _ids(store: RAGStoreProtocol, embedder: str = "emb") -> list[int]:
    """Every chunk id holding a vector (an exact search for all of them)."""
    return sorted(cid for cid, _ in store.vector_search(embedder, _vecs(1, 99)[0], 10_000, exact=True))


def test_replace_document_round_trip(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    vecs = _vecs(3)
    store.replace_document(_doc("/root/a.txt", 3), vecs, "emb")
    assert store.counts() == {"documents": 1, "chunks": 3, "vectors": 3, "manifest": 1}
    [stored] = store.export_documents()
    np.testing.assert_array_equal(stored.vectors, vecs)
    assert stored.doc == _doc("/root/a.txt", 3)
    rows = store.chunks(_ids(store))
    assert sorted(r.page for r in rows.values()) == [1, 2, 3]
    assert store.manifest_under("/root")["/root/a.txt"].content_hash == "h-/root/a.txt"
    [doc] = store.documents_under("/root")
    assert (doc.path, doc.chunks, doc.metadata) == ("/root/a.txt", 3, {"k": 1})


def test_replacing_a_document_leaves_no_old_chunks(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    store.replace_document(_doc("/root/a.txt", 5), _vecs(5), "emb")
    store.replace_document(_doc("/root/a.txt", 2, text="new"), _vecs(2, 1), "emb")
    assert store.counts() == {"documents": 1, "chunks": 2, "vectors": 2, "manifest": 1}
    texts = {r.text for r in store.chunks(_ids(store)).values()}
    assert texts == {"new 0", "new 1"}


def test_delete_cascades_and_invalidates_cache(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    store.replace_document(_doc("/root/a.txt", 2), _vecs(2), "emb")
    store.replace_document(_doc("/root/b.txt", 2), _vecs(2, 1), "emb")
    assert len(_ids(store)) == 4
    assert store.delete_documents(["/root/a.txt"]) == 1
    assert len(_ids(store)) == 2
    assert store.counts() == {"documents": 1, "chunks": 1 * 2, "vectors": 2, "manifest": 1}


def test_cache_is_reused_until_a_write(tmp_path: Path) -> None:
    store = RAGStore(tmp_path / "s.db")
    store.replace_document(_doc("/root/a.txt", 2), _vecs(2), "emb")
    first = store.vector_index("emb")
    assert store.vector_index("emb") is first
    store.replace_document(_doc("/root/b.txt", 1), _vecs(1), "emb")
    assert store.vector_index("emb") is not first


def test_write_by_another_connection_invalidates_cache(tmp_path: Path) -> None:
    one, two = RAGStore(tmp_path / "s.db"), RAGStore(tmp_path / "s.db")
    one.replace_document(_doc("/root/a.txt", 2), _vecs(2), "emb")
    assert two.vector_index("emb").matrix.shape[0] == 2
    one.replace_document(_doc("/root/b.txt", 3), _vecs(3), "emb")
    assert two.vector_index("emb").matrix.shape[0] == 5


def test_failed_write_rolls_back_the_whole_file(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    store.replace_document(_doc("/root/a.txt", 2), _vecs(2), "emb")
    with pytest.raises(ValueError, match="3 chunks but 2 vectors"):
        store.replace_document(_doc("/root/a.txt", 3), _vecs(2), "emb")
    # The second chunk cannot be bound: sqlite fails after the old rows were deleted and new ones inserted.
    good = _doc("/root/a.txt", 2, text="new")
    broken = replace(good, chunks=[good.chunks[0], ChunkPiece(["not", "text"], 1)])  # type: ignore[arg-type]
    with pytest.raises((sqlite3.Error, StoreError, TypeError)):  # the driver that refuses it differs
        store.replace_document(broken, _vecs(2), "emb")
    assert store.counts() == {"documents": 1, "chunks": 2, "vectors": 2, "manifest": 1}
    texts = {r.text for r in store.chunks(_ids(store)).values()}
    assert texts == {"chunk 0", "chunk 1"}


def test_prefix_matching_does_not_leak_into_sibling_roots(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    store.replace_document(_doc("/root/a.txt", 1), _vecs(1), "emb")
    manifest = ManifestEntry("h", "text", "1", "", "", "emb", "x")
    other = NewDocument("/rootling/b.txt", "/rootling", "b.txt", "text/plain", 1, False, {}, manifest, [])
    other = replace(other, chunks=[ChunkPiece("b", 0)])
    store.replace_document(other, _vecs(1), "emb")
    assert store.paths_under("/root") == ["/root/a.txt"]
    assert list(store.manifest_under("/root")) == ["/root/a.txt"]


def test_vectors_of_other_embedders_are_refused_not_mixed(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    store.replace_document(_doc("/root/a.txt", 2), _vecs(2), "emb")
    with pytest.raises(StoreError, match=r"made by the embedder 'emb', not 'other'.*--store"):
        store.replace_document(_doc("/root/b.txt", 1), _vecs(1), "other")
    assert store.counts()["documents"] == 1  # nothing of the refused write was kept
    assert store.embedder() == "emb"
    with pytest.raises(StoreError, match="'emb'"):
        store.check_embedder("other")
    store.delete_documents(["/root/a.txt"])  # an emptied store takes any embedder again
    assert store.embedder() is None
    store.replace_document(_doc("/root/b.txt", 1), _vecs(1), "other")
    assert len(_ids(store, "other")) == 1


def test_keyword_search_ranks_by_words_in_text_path_and_symbol(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    store.replace_document(_doc("/root/Caddyfile", 1, text="reverse_proxy localhost:8000"), _vecs(1), "emb")
    store.replace_document(_doc("/root/notes.txt", 1, text="a proxy is mentioned once"), _vecs(1, 2), "emb")
    store.replace_document(_doc("/root/other.txt", 1, text="nothing relevant here"), _vecs(1, 3), "emb")
    hits = store.keyword_search("where is the reverse proxy configured?", 10)
    rows = store.chunks([cid for cid, _ in hits])
    assert [rows[cid].relpath for cid, _ in hits] == ["Caddyfile", "notes.txt"]
    assert hits[0][1] > hits[1][1] > 0
    assert store.keyword_search("caddyfile", 5)[0][0] == hits[0][0]  # the file name is indexed
    assert store.keyword_search('"; DROP TABLE x; --  NEAR(', 5) == []  # FTS5 syntax is never interpreted
    store.delete_documents(["/root/Caddyfile"])
    assert [store.chunks([c])[c].relpath for c, _ in store.keyword_search("reverse proxy", 5)] == [
        "notes.txt"
    ]


def test_concurrent_writers_from_threads(store_url: str | Path) -> None:
    store = open_rag_store(store_url)

    def write(i: int) -> None:
        store.replace_document(_doc(f"/root/{i}.txt", 3), _vecs(3, i), "emb")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.counts() == {"documents": 8, "chunks": 24, "vectors": 24, "manifest": 8}


def test_corrupt_store_file_raises_store_error(tmp_path: Path) -> None:
    from kagura.errors import StoreError

    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        RAGStore(path)


def test_file_of_a_legacy_conversation_store_also_takes_a_rag_index(tmp_path: Path) -> None:
    # Before namespaces such a file was refused: its user_version belonged to the conversation store.
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE turns (id INTEGER PRIMARY KEY); PRAGMA user_version = 1;")
    conn.close()
    store = RAGStore(path)
    store.replace_document(_doc("/root/a.txt", 2), _vecs(2), "emb")
    assert store.counts() == {"documents": 1, "chunks": 2, "vectors": 2, "manifest": 1}
    store.close()
    conn = sqlite3.connect(path)
    assert dict(conn.execute("SELECT namespace, version FROM kagura_schema").fetchall()) == {
        "rag": len(RAG_MIGRATIONS)
    }
    assert conn.execute("SELECT count(*) FROM turns").fetchone()[0] == 0
    conn.close()


def test_legacy_rag_store_is_adopted_with_its_data(tmp_path: Path) -> None:
    from kagura.core.memory.stores.sqlite._schema import RAG_MIGRATIONS

    path = tmp_path / "s.db"
    store = RAGStore(path)
    store.replace_document(_doc("/root/a.txt", 3), _vecs(3), "emb")
    store.close()
    # Turn it into a file as written before namespaces: no kagura_schema, the version in user_version.
    conn = sqlite3.connect(path)
    conn.executescript(f"DROP TABLE kagura_schema; PRAGMA user_version = {len(RAG_MIGRATIONS)};")
    conn.close()
    store = RAGStore(path)
    assert store.counts() == {"documents": 1, "chunks": 3, "vectors": 3, "manifest": 1}
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM kagura_schema WHERE namespace = 'rag'").fetchone()[0] == len(
        RAG_MIGRATIONS
    )
    conn.close()


def test_newer_rag_namespace_is_refused(tmp_path: Path) -> None:
    from kagura.errors import StoreError

    path = tmp_path / "s.db"
    RAGStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE kagura_schema SET version = 99 WHERE namespace = 'rag'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="'rag' schema version 99 is newer"):
        RAGStore(path)


def test_vectors_are_found_again_by_chunk_hash(store_url: str | Path) -> None:
    store = open_rag_store(store_url)
    vecs = _vecs(3)
    store.replace_document(replace(_doc("/root/a.txt", 3), chunk_hashes=["h0", "h1", "h2"]), vecs, "emb")
    found = store.vectors_for_hashes(["h2", "h0", "missing"])
    assert set(found) == {"h0", "h2"}
    np.testing.assert_array_equal(found["h2"], vecs[2])
    with pytest.raises(ValueError, match="3 chunks but 1 hashes"):
        store.replace_document(replace(_doc("/root/b.txt", 3), chunk_hashes=["x"]), vecs, "emb")


def test_a_version_1_store_is_upgraded_with_its_keyword_index_and_embedder(tmp_path: Path) -> None:
    from kagura._sqlite import connect, migrate, schema_version

    path = tmp_path / "old.db"
    conn = connect(path)
    migrate(conn, RAG_MIGRATIONS[:1], namespace="rag")  # the store as the previous release wrote it
    conn.execute(
        "INSERT INTO rag_documents (id, path, root, relpath, file_type, mime_type, content_hash, size,"
        " indexed_at) VALUES (1, '/root/deploy/Caddyfile', '/root', 'deploy/Caddyfile', 'text', 'text/plain',"
        " 'h', 1, 0)"
    )
    conn.execute(
        "INSERT INTO rag_chunks (id, document_id, ordinal, text, file_type)"
        " VALUES (7, 1, 0, 'encode gzip', 'text')"
    )
    conn.execute(
        "INSERT INTO rag_vectors (chunk_id, embedder, dim, vector) VALUES (7, 'old-emb', 8, ?)",
        (_vecs(1)[0].tobytes(),),
    )
    conn.commit()
    conn.close()

    store = RAGStore(path)
    assert schema_version(store._conn, "rag") == len(RAG_MIGRATIONS)
    assert store.keyword_search("gzip", 5)[0][0] == 7  # the old chunks are in the new keyword index
    assert store.keyword_search("caddyfile", 5)[0][0] == 7
    assert store.embedder() == "old-emb"
    with pytest.raises(StoreError, match="old-emb"):
        store.replace_document(_doc("/root/new.txt", 1), _vecs(1), "new-emb")
