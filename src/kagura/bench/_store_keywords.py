"""Row 4 of ``kagura bench store``: keyword search on SQLite (FTS5 ``bm25()``) and on PostgreSQL (the same
BM25 in SQL) over the same real text, side by side: latency, and whether every ranking is identical.

The text is this Python's standard library sources, chunked like an ingest (800/120), one document per
file (``.py`` files as ``code``, the others as ``text``), written to both stores through the store API.
The queries are the corpus benchmark's questions plus identifiers and single common words, each searched
with and without a ``file_type`` filter.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kagura.bench._report import BenchRow

__all__ = ["keyword_row"]

_EXTRA_QUERIES = (
    "def", "import os", "self", "return value", "__init__", "smtp_ssl_port", "read_text encoding",
    "connection refused", "asyncio.wait_for timeout", "TZif", "canvwidth", "ZzDummy", "données",
)  # fmt: skip
_TOP_K = 10


def _documents(limit: int) -> Iterator[Any]:
    """Standard-library files as NewDocuments, in a fixed order, until ``limit`` chunks."""
    from kagura.bench._corpus_tree import stdlib_root
    from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece, split_text
    from kagura.core.memory.stores._rows import ManifestEntry, NewDocument

    lib = stdlib_root()
    total = 0
    for path in sorted(lib.rglob("*")):
        if total >= limit:
            return
        if path.suffix not in (".py", ".txt", ".rst") or "site-packages" in path.parts or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        pieces = split_text(text)[: limit - total]
        if not pieces:
            continue
        kind = "code" if path.suffix == ".py" else "text"
        relpath = path.relative_to(lib).as_posix()
        manifest = ManifestEntry(relpath, kind, "1", "", "", "bench-keywords", "800/120")
        chunks = [ChunkPiece(piece, i, section=f"part {i // 4}") for i, piece in enumerate(pieces)]
        total += len(chunks)
        yield NewDocument(f"/stdlib/{relpath}", "/stdlib", relpath, "text/plain", len(text), False, {},
                          manifest, chunks)  # fmt: skip


def _key(store: Any, hits: list[tuple[int, float]]) -> list[tuple[str, str, float]]:
    rows = store.chunks([cid for cid, _ in hits])
    return [(rows[cid].path, rows[cid].text, score) for cid, score in hits]


def _same(a: list[tuple[str, str, float]], b: list[tuple[str, str, float]]) -> bool:
    return [x[:2] for x in a] == [x[:2] for x in b] and all(
        math.isclose(x[2], y[2], rel_tol=1e-9) for x, y in zip(a, b, strict=True)
    )


def keyword_row(size: int, fresh: Any, tmp: Path) -> BenchRow:
    from kagura.bench._corpus_tree import load_questions
    from kagura.core.memory.stores.postgres import PostgresRAGStore
    from kagura.core.memory.stores.sqlite._store import RAGStore

    sqlite, pg = RAGStore(tmp / "keywords.db"), PostgresRAGStore(fresh())
    load_s = {}
    docs = list(_documents(size))
    for name, store in (("sqlite", sqlite), ("postgres", pg)):
        started = time.perf_counter()
        for doc in docs:
            store.replace_document(doc, np.zeros((len(doc.chunks), 8), dtype=np.float32), "bench-keywords")
        load_s[name] = round(time.perf_counter() - started, 1)
    chunks = sum(len(d.chunks) for d in docs)
    queries = [q.text for q in load_questions()] + list(_EXTRA_QUERIES)
    ms: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    identical = 0
    searches = 0
    for query in queries:
        for file_type in (None, "code"):
            results = {}
            for name, store in (("sqlite", sqlite), ("postgres", pg)):
                started = time.perf_counter()
                hits = store.keyword_search(query, _TOP_K, file_type)
                ms[name].append((time.perf_counter() - started) * 1000)
                results[name] = _key(store, hits)
            searches += 1
            identical += _same(results["sqlite"], results["postgres"])
    sqlite.close()
    pg.close()
    return BenchRow(
        f"top-{_TOP_K} keyword search over {chunks:,} chunks of real text: SQLite FTS5 p50 vs PostgreSQL p50",
        searches,
        statistics.median(ms["sqlite"]) / 1000,
        statistics.median(ms["postgres"]) / 1000,
        extra={
            "identical_rankings": f"{identical}/{searches}",
            "sqlite_p50_ms": round(statistics.median(ms["sqlite"]), 2),
            "postgres_p50_ms": round(statistics.median(ms["postgres"]), 2),
            "sqlite_p95_ms": round(float(np.percentile(ms["sqlite"], 95)), 2),
            "postgres_p95_ms": round(float(np.percentile(ms["postgres"], 95)), 2),
            "load_s": load_s,
        },
    )
