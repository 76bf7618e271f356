"""The worker side of a distributed ingestion: what one Ray actor does with a batch of files.

A :func:`process_batch` task runs the *local* pipeline (:class:`IngestRun` over a :class:`FilePreparer`)
on one batch: extract, chunk, describe media through the LLM layer, embed. The MiniLM embedder is never
shipped: it unpickles as the worker process's default, loaded once per process and kept by Ray's pooled
worker processes from batch to batch and run to run. Only the last step differs: the
embedded files are not stored but handed back to the driver (:class:`BatchResult`), which stores each in
its own transaction and reports it with the same code as a local run. A worker therefore writes nothing,
so a worker killed mid-batch leaves no trace: Ray runs the task again (``max_retries``).

Stored vectors (for per-chunk reuse of edited files) are looked up through a :class:`StoreReader` actor
that Ray places on the driver's node, next to the SQLite file.

This module does not import Ray: the driver (``_ray_engine``) wraps these classes as actors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kagura.core.llm import LLMConfig
from kagura.core.memory._pipeline import IngestRun, Progress
from kagura.core.memory._prepare import FilePreparer, Prepared, RunCounters
from kagura.core.memory._report import IngestReport
from kagura.core.memory._store import ManifestEntry, NewDocument
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.stores import open_rag_store
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol
from kagura.core.parallel import RetryPolicy
from kagura.loaders import ScannedFile

__all__ = ["BatchResult", "StoreReader", "WorkerSpec", "process_batch"]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to process files exactly as the driver's local run would.

    The embedder is not part of it: it is put in Ray's object store once per run.
    """

    root: Path
    llm: LLMConfig | None
    embedder_name: str
    chunk_size: int
    overlap: int
    retry: RetryPolicy | None
    redescribe: bool
    embed_batch_size: int
    max_concurrent: int

    def preparer(
        self,
        manifest: dict[str, ManifestEntry],
        counters: RunCounters,
        claims: DescriptionClaimsProtocol | None = None,
    ) -> FilePreparer:
        """The per-file worker of a run with these settings (the driver's and each batch's)."""
        return FilePreparer(
            root=self.root,
            manifest=manifest,
            llm=self.llm,
            embedder_name=self.embedder_name,
            chunk_size=self.chunk_size,
            overlap=self.overlap,
            retry=self.retry,
            counters=counters,
            redescribe=self.redescribe,
            claims=claims,
        )


@dataclass
class BatchResult:
    """What one batch produced. ``report`` holds the files settled on the worker (unchanged, skipped,
    failed) and the embedding and LLM counters; ``embedded`` the files to store, as the write stage
    grouped them with their stacked vectors; ``settled``/``settled_failed`` count the files the worker
    settled itself, for the driver's progress."""

    report: IngestReport
    stale: list[str] = field(default_factory=list)
    embedded: list[tuple[list[Prepared], np.ndarray]] = field(default_factory=list)
    settled: int = 0
    settled_failed: int = 0


class StoreReader:
    """Read-only use of the driver's store for the workers: stored vectors by chunk hash.

    Runs as an actor pinned to the driver's node (where an SQLite file is; SQLite in WAL mode lets it
    read while the driver writes); a ``postgresql://`` URL is opened the same way."""

    def __init__(self, store_path: str) -> None:
        self._store = open_rag_store(store_path)

    def vectors_for_hashes(self, hashes: list[str]) -> dict[str, np.ndarray]:
        return self._store.vectors_for_hashes(hashes)


class _LookupOnly:
    """The store a worker's run sees: lookups go to ``lookup``; writes never reach it (the run's sink
    sends embedded files back to the driver instead)."""

    def __init__(self, lookup: Callable[[list[str]], dict[str, np.ndarray]]) -> None:
        self._lookup = lookup

    def vectors_for_hashes(self, hashes: list[str]) -> dict[str, np.ndarray]:
        return self._lookup(list(hashes))

    def replace_document(self, doc: NewDocument, vectors: np.ndarray, embedder: str) -> int:
        raise RuntimeError("a Ray worker never writes to the store; the driver does")  # pragma: no cover


def process_batch(
    spec: WorkerSpec,
    embedder: Embedder,
    files: list[ScannedFile],
    manifest: dict[str, ManifestEntry],
    lookup: Callable[[list[str]], dict[str, np.ndarray]],
) -> BatchResult:
    """One Ray task: run the local pipeline over ``files`` (``manifest``: their entries, as the driver
    read them) and return what it produced. The MiniLM embedder unpickles as the worker process's
    shared default, so each worker process loads the model once, whatever the number of batches."""

    async def run_batch() -> BatchResult:
        report = IngestReport(root=str(spec.root))
        counters = RunCounters(timings=report.timings)
        result = BatchResult(report)
        preparer = spec.preparer(manifest, counters)

        async def send_back(batch: list[Prepared], vectors: np.ndarray) -> None:
            result.embedded.append((batch, vectors))

        progress = Progress(None, len(files))
        run = IngestRun(
            store=_LookupOnly(lookup),
            embedder=embedder,
            preparer=preparer,
            report=report,
            progress=progress,
            embed_batch_size=spec.embed_batch_size,
            sink=send_back,
        )
        await run.run(files, spec.max_concurrent)
        report.llm_calls = counters.llm_calls
        report.llm_attempts = counters.llm_attempts
        report.llm_cache_hits = counters.llm_cache_hits
        result.stale = run.stale
        result.settled, result.settled_failed = progress.done, progress.failed
        return result

    return asyncio.run(run_batch())
