"""``kagura bench mixed``: search quality and latency on a mixed project tree, beyond the standard library.

The tree (:mod:`kagura.bench._mixed_tree`) holds configuration files (Dockerfile, Caddyfile, nginx,
YAML, TOML, JSON), the same docs pages as Markdown and HTML, and code in Python and JavaScript; the
questions were written before any ranking change. It is ingested with the default local embedder.

Rows:

* ``search <mode>``: hit@1, hit@5 and MRR by file (a docs page counts in either copy) of every question,
  for the keyword, vector and hybrid modes; the hybrid row adds hit@1 per kind of question and the number
  of distinct files in each question's top 5 chunks (``distinct_files_top5``: 5 means no repeats).
* ``kagura search process``: wall and CPU time of a whole ``kagura search`` process (start-up, model load,
  query) against this store, hybrid and keyword, beside the floor (a Python process that only imports
  ``kagura``), the median of a few runs after one warm-up; goal (issue 20): hybrid <= 0.5 s.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kagura.bench._mixed_tree import build_mixed_tree
from kagura.bench._report import BenchRow
from kagura.bench.corpus import file_ranking, score
from kagura.core.memory import MultimodalRAG
from kagura.errors import WorkerProcessError

__all__ = ["run"]

DEPTH = 50
PROCESS_RUNS = 2


async def _search_rows(rag: MultimodalRAG, questions: Any) -> list[BenchRow]:
    rows = []
    for mode in ("keyword", "vector", "hybrid"):
        rankings = []
        distinct = []
        started = time.perf_counter()
        for q in questions:
            results = await rag.query(q.text, top_k=DEPTH, mode=mode)  # type: ignore[arg-type]
            rankings.append((file_ranking([r.relpath for r in results]), q))
            distinct.append(len({r.relpath for r in results[:5]}))
        per_query = (time.perf_counter() - started) / max(len(questions), 1)
        extra: dict[str, Any] = score(rankings)
        extra["distinct_files_top5"] = round(statistics.mean(distinct), 2) if distinct else 0
        kinds = sorted({q.kind for q in questions})
        extra["hit@1_by_kind"] = {
            kind: score([(f, q) for f, q in rankings if q.kind == kind])["hit@1"] for kind in kinds
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
    return rows


async def _process_seconds(store: Path | None, mode: str, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` ``kagura search`` processes (after one warm-up run);
    ``store=None`` times the floor instead: a Python process that only imports ``kagura``."""
    walls, cpus = [], []
    argv = (
        ["-c", "import kagura"] if store is None
        else ["-m", "kagura.cli", "search", "container health check", "--store", str(store), "--mode", mode]
    )  # fmt: skip
    for attempt in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await process.communicate()
        if process.returncode != 0:
            raise WorkerProcessError(f"kagura search failed ({process.returncode}): {err.decode()[-500:]}")
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if attempt:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


async def run(latency: float = 0.15, quick: bool = False) -> list[BenchRow]:
    """Build the tree, ingest it with the default embedder, ask every question in every mode, time
    ``kagura search`` processes (one tree size: it is small; ``quick`` times one process per mode)."""
    del latency  # offline
    runs = 1 if quick else PROCESS_RUNS
    with tempfile.TemporaryDirectory(prefix="kagura-mixed-") as tmp:
        tree = await asyncio.to_thread(build_mixed_tree, Path(tmp) / "tree")
        store = Path(tmp) / "mixed.db"
        rag = MultimodalRAG(store)
        try:
            started = time.perf_counter()
            await rag.load_directory(tree.root, max_concurrent=4)
            ingest_s = time.perf_counter() - started
            chunks = rag.store.counts()["chunks"]
            rows = [
                BenchRow(
                    f"ingest: {len(tree.relpaths)} files (config, md + html docs, Python, JavaScript)",
                    chunks, ingest_s, ingest_s,
                    extra={"chunks": chunks, "questions": len(tree.questions),
                           "questions_skipped": tree.skipped_questions},
                )
            ]  # fmt: skip
            rows.extend(await _search_rows(rag, tree.questions))
        finally:
            rag.close()
        # Side by side: the bare interpreter floor, then a whole search process in each mode.
        processes = {"python_import_kagura": await _process_seconds(None, "", runs)}
        processes |= {mode: await _process_seconds(store, mode, runs) for mode in ("hybrid", "keyword")}
        extra: dict[str, Any] = {f"{name}_s": round(wall, 3) for name, (wall, _) in processes.items()}
        extra |= {f"{name}_cpu_s": round(cpu, 3) for name, (_, cpu) in processes.items()}
        rows.append(
            BenchRow(
                "kagura search process (median wall time; python_import_kagura = the interpreter's floor)",
                runs,
                processes["python_import_kagura"][0],
                processes["hybrid"][0],
                extra=extra | {"goal": "a small store, hybrid: <= 0.5 s per process (issue 20)"},
                checks=[("hybrid_s", "<=", 0.5)],
            )
        )
    return rows
