"""Indexing one directory: scan, diff, process the changed files on an engine, prune what is gone.

    scan (loaders) -> the engine, per file (``_pipeline``; on Ray, per batch of files):
        hash + detect -> manifest check (unchanged: done) -> extract -> chunk        [max_concurrent]
        -> media: one LLM description, retried                                      [max_concurrent]
        -> embed in batches across files -> store each file in its own transaction   [one writer]
    -> prune the files that are gone (a file or folder unreadable now, or failing, keeps its documents).

Every blocking step runs off the event loop. Whatever the engine, whatever happens (an error, Ctrl-C),
the run's description claims are released and its LLM counters reach the report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kagura.core.llm import LLMClient
from kagura.core.memory._report import Document, IngestReport, SkippedPath
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.ingestion._job import Engine, IngestJob
from kagura.core.memory.ingestion._pipeline import IngestRun, Progress, ProgressCallback
from kagura.core.memory.ingestion._prepare import RunCounters
from kagura.core.memory.ingestion._prune import plan_prune
from kagura.core.memory.ingestion._settings import RunSettings
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol, RAGStoreProtocol
from kagura.core.memory.stores._rows import WorkerAccess
from kagura.loaders import display_name, scan_directory

__all__ = ["DirectoryRun", "index_directory"]


@dataclass(frozen=True)
class DirectoryRun:
    """Where one run reads and writes: the store (and its location, for other processes), the embedder,
    the description claims (None: no LLM), and the scan's limits."""

    store: RAGStoreProtocol
    access: WorkerAccess
    embedder: Embedder
    claims: DescriptionClaimsProtocol | None
    max_file_size: int
    embed_batch_size: int
    default_ignores: bool = True
    client: LLMClient | None = None
    """The client the run's LLM calls go through (None: offline)."""
    descriptions: dict[tuple[str, str], str] | None = None
    """Media descriptions made ahead of the run, by (relpath, content hash)."""


async def index_directory(
    where: DirectoryRun,
    settings: RunSettings,
    engine: Engine,
    report: IngestReport,
    on_progress: ProgressCallback | None = None,
) -> list[Document]:
    """Index ``settings.root`` into ``where.store`` on ``engine``, filling ``report`` as it goes (it is
    the caller's, so a cancelled run leaves a partial report); return every document now under the root."""
    root, store = settings.root, where.store
    loop = asyncio.get_running_loop()
    started = loop.time()
    counters = RunCounters(timings=report.timings)
    scan = await asyncio.to_thread(
        lambda: scan_directory(root, max_file_size=where.max_file_size, default_ignores=where.default_ignores)
    )
    report.timings["scan"] = loop.time() - started
    report.skipped.extend(SkippedPath(display_name(s.path), s.rule, s.detail) for s in scan.skipped)
    manifest = await asyncio.to_thread(store.manifest_under, str(root))
    preparer = settings.preparer(manifest, counters, where.claims, where.client)
    preparer.descriptions = dict(where.descriptions or {})
    run = IngestRun(
        store=store,
        embedder=where.embedder,
        preparer=preparer,
        report=report,
        progress=Progress(on_progress, len(scan.files)),
        embed_batch_size=where.embed_batch_size,
        claims=where.claims,
    )
    job = IngestJob(run, scan.files, settings, manifest, store, where.access)
    try:
        await engine.ingest(job)
    finally:
        if where.claims is not None:  # whatever happened, no claim of this run outlives it
            await asyncio.shield(asyncio.to_thread(where.claims.release_all))
        report.llm_calls = counters.llm_calls
        report.llm_attempts = counters.llm_attempts
        report.llm_cache_hits = counters.llm_cache_hits
        report.described_ahead = counters.described_ahead
        report.timings["total"] = loop.time() - started

    unreadable = [s.path for s in report.skipped if s.rule == "unreadable"]
    seen = (display_name(root / f.relpath) for f in scan.files)
    stored = await asyncio.to_thread(store.paths_under, str(root))
    plan = plan_prune(stored, seen, run.stale, unreadable)
    await asyncio.to_thread(store.delete_documents, plan.paths)
    report.pruned.extend(plan.gone)
    report.completed = True
    report.timings["total"] = loop.time() - started
    return await asyncio.to_thread(store.documents_under, str(root))
