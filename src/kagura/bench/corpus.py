"""``kagura bench corpus``: a real repository, side by side in one run.

The tree is a fixed selection of this Python's standard library (see ``_corpus_tree``: ~450 files, ~7 MB of
code, prose and config files at full size), and the questions ship as package data (answer in one file each).
``kagura bench corpus --full`` uses the full tree, the default and ``--quick`` the ``quick`` one (12 small
answer files); the environment variable ``KAGURA_BENCH_CORPUS_SIZE`` (``full``, ``small``: the ~35 answer
files up to 30 kB, or ``quick``) overrides both, e.g. for machines where embedding the full tree with the
local embedder takes too long.

Rows:

* ``ingest 1x``: a fresh offline ingest with the default local embedder, in its own process: wall time,
  chunks/s and peak RSS.
* ``memory 1x/2x/4x``: the same tree copied 1, 2 and 4 times, each ingested in its own process with a hash
  embedder (no model: what grows here is the pipeline's own memory, not the model's): peak RSS per size.
* ``one-line edit``: a line of ``gzip.py`` (~70 chunks) edited, then re-ingested: chunks re-embedded
  (counted by :class:`~kagura.testing.CountingEmbedder`) and the re-run's wall time.
* ``search <mode>``: hit@1, hit@5 and MRR (by file, over the top 50 chunks) of every question for the
  keyword, vector and hybrid modes; ``extra`` of the hybrid row also scores fusion variants (RRF ``k``,
  keyword weight) computed from the same two rankings.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kagura.bench._corpus_tree import SIZES, Question, build_tree, load_questions
from kagura.bench._report import BenchRow
from kagura.core.memory import MultimodalRAG, get_default_embedder
from kagura.core.memory.search._hybrid import reciprocal_rank_fusion
from kagura.errors import WorkerProcessError
from kagura.testing import CountingEmbedder

__all__ = ["EDIT", "file_ranking", "run", "score"]

DEPTH = 50
SIZE_ENV = "KAGURA_BENCH_CORPUS_SIZE"
EDIT = ("gzip.py", "_COMPRESS_LEVEL_BEST = 9", "_COMPRESS_LEVEL_BEST = 8  # edited")
"""The one-line edit: file, line before, line after (a constant present in every Python 3 gzip.py)."""
VARIANTS: dict[str, dict[str, Any]] = {
    "rrf k=60": {"k": 60, "weights": (1.0, 1.0)},
    "rrf k=20": {"k": 20, "weights": (1.0, 1.0)},
    "rrf k=5": {"k": 5, "weights": (1.0, 1.0)},
    "rrf k=60 keyword x2": {"k": 60, "weights": (1.0, 2.0)},
    "rrf k=60 vector x2": {"k": 60, "weights": (2.0, 1.0)},
}


async def _worker(root: Path, store: Path, embedder: str) -> dict[str, Any]:
    """Run one ingest in a fresh interpreter; its JSON line (with ``peak_rss_mb``)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kagura.bench._corpus_worker", str(root), str(store), embedder,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise WorkerProcessError(f"corpus ingest worker failed with exit code {process.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


def file_ranking(relpaths: Sequence[str]) -> list[str]:
    """Chunk hits (best first) -> files, best first, each once."""
    return list(dict.fromkeys(relpaths))


def score(rankings: Sequence[tuple[Sequence[str], Question]]) -> dict[str, float]:
    """hit@1, hit@5 and MRR of file rankings against each question's answer files."""
    hit1 = hit5 = mrr = 0.0
    for files, question in rankings:
        rank = next((i for i, f in enumerate(files, start=1) if f in question.answers), None)
        if rank is not None:
            hit1 += rank == 1
            hit5 += rank <= 5
            mrr += 1.0 / rank
    n = max(len(rankings), 1)
    return {"hit@1": round(hit1 / n, 3), "hit@5": round(hit5 / n, 3), "mrr": round(mrr / n, 3)}


async def _evaluate(rag: MultimodalRAG, questions: Sequence[Question]) -> tuple[list[BenchRow], float]:
    by_mode: dict[str, list[tuple[list[str], Question]]] = {"keyword": [], "vector": [], "hybrid": []}
    variants: dict[str, list[tuple[list[str], Question]]] = {name: [] for name in VARIANTS}
    started = time.perf_counter()
    for q in questions:
        hits = {mode: await rag.query(q.text, top_k=DEPTH, mode=mode) for mode in by_mode}  # type: ignore[arg-type]
        for mode, results in hits.items():
            by_mode[mode].append((file_ranking([r.relpath for r in results]), q))
        relpath = {r.chunk_id: r.relpath for results in hits.values() for r in results}
        vector_ids = [r.chunk_id for r in hits["vector"]]
        keyword_ids = [r.chunk_id for r in hits["keyword"]]
        for name, options in VARIANTS.items():
            fused = reciprocal_rank_fusion([vector_ids, keyword_ids], **options)
            variants[name].append((file_ranking([relpath[c] for c, _ in fused]), q))
    seconds = time.perf_counter() - started
    per_query = seconds / max(len(questions) * 3, 1)
    rows = []
    for mode, rankings in by_mode.items():
        extra: dict[str, Any] = score(rankings)
        if mode == "hybrid":
            extra["variants"] = {name: score(r) for name, r in variants.items()}
            extra["by_kind"] = {
                kind: {m: score([(f, q) for f, q in by_mode[m] if q.kind == kind])["hit@1"] for m in by_mode}
                for kind in sorted({q.kind for q in questions})
            }
        rows.append(
            BenchRow(
                f"search {mode}: {len(questions)} questions",
                len(questions),
                per_query,
                per_query,
                extra=extra,
            )
        )
    return rows, seconds


async def _one_line_edit(root: Path, store: Path) -> BenchRow:
    relpath, before, after = EDIT
    target = root / relpath
    text = target.read_text(encoding="utf-8")
    counting = CountingEmbedder(get_default_embedder())
    rag = MultimodalRAG(store, embedder=counting)
    try:
        file_chunks = next(d.chunks for d in rag.documents(root) if d.relpath == relpath)
        target.write_text(text.replace(before, after, 1), encoding="utf-8")
        started = time.perf_counter()
        await rag.load_directory(root, max_concurrent=4)
        wall = time.perf_counter() - started
    finally:
        rag.close()
    extra = {"file_chunks": file_chunks, "re_embedded": len(counting.texts), "goal": "<= 3"}
    return BenchRow(
        f"one-line edit in {relpath} ({file_chunks} chunks), re-ingest",
        1,
        wall,
        wall,
        extra=extra,
        checks=[("re_embedded", "<=", 3)],
    )


async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """Build the tree, ingest it (1x real embedder; 1x/2x/4x hash embedder), edit one line, ask questions.

    Tree size: ``KAGURA_BENCH_CORPUS_SIZE`` when set, else ``full`` with ``full=True`` and ``quick``
    otherwise (the default ``kagura bench`` run stays about a minute)."""
    del latency  # offline: no LLM is involved
    size = os.environ.get(SIZE_ENV) or ("full" if full and not quick else "quick")
    if size not in SIZES:
        raise ValueError(f"{SIZE_ENV}={size!r}: use one of {', '.join(SIZES)}")
    questions = load_questions()
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="kagura-corpus-") as tmp:
        base = Path(tmp)
        tree = await asyncio.to_thread(build_tree, base / "x1", size=size)
        present = [q for q in questions if any(a in tree.relpaths for a in q.answers)]
        real = await _worker(tree.root, base / "real.db", "default")
        rows.append(
            BenchRow(
                f"ingest 1x ({size} tree): {tree.files} files, {tree.bytes / 1e6:.2f} MB, default embedder",
                real["chunks"], real["wall_s"], real["wall_s"],
                extra={"chunks": real["chunks"], "chunks_per_s": round(real["chunks"] / real["wall_s"], 1),
                       "embed_s": round(real["embed_s"], 1), "peak_rss_mb": round(real["peak_rss_mb"]),
                       "failed": real["failed"]},
            )
        )  # fmt: skip
        rag = MultimodalRAG(base / "real.db")
        try:
            search_rows, _ = await _evaluate(rag, present)
        finally:
            rag.close()
        if EDIT[0] in tree.relpaths:
            rows.append(await _one_line_edit(tree.root, base / "real.db"))
        memory: dict[str, Any] = {}
        for copies in (1, 2, 4):
            scaled = await asyncio.to_thread(build_tree, base / f"m{copies}", copies=copies, size=size)
            result = await _worker(scaled.root, base / f"m{copies}.db", "hash")
            memory[f"{copies}x"] = {
                "files": scaled.files,
                "chunks": result["chunks"],
                "wall_s": round(result["wall_s"], 1),
                "peak_rss_mb": round(result["peak_rss_mb"]),
            }
        peak = [memory[k]["peak_rss_mb"] for k in ("1x", "2x", "4x")]
        rows.append(
            BenchRow(
                "memory: the tree 1x / 2x / 4x, hash embedder, peak RSS",
                memory["4x"]["files"], memory["1x"]["wall_s"] or 1e-9, memory["4x"]["wall_s"] or 1e-9,
                extra={**memory, "rss_4x_over_1x": round(peak[2] / peak[0], 2)},
            )
        )  # fmt: skip
        rows.extend(search_rows)
        rows[-1].extra["questions_skipped"] = len(questions) - len(present)
    return rows
