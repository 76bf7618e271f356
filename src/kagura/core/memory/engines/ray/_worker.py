"""The worker side of a distributed ingestion: what one Ray task does with a batch of files.

A :func:`process_batch` task runs the *local* pipeline (:class:`IngestRun` over a :class:`FilePreparer`)
on one batch: extract, chunk, claim and describe media through the LLM layer, embed, and store. The MiniLM
embedder is never shipped: it unpickles as the worker process's default, loaded once per process and kept
by Ray's pooled worker processes from batch to batch and run to run.

Where the files go depends on the store (see :mod:`._ray_access`): on PostgreSQL the worker writes each
file itself, in its own transaction, and sends back only its report; on SQLite it sends the embedded files
back to the driver (:class:`BatchResult`), which stores each in its own transaction with the same code as a
local run. Either way a worker killed mid-batch loses nothing: Ray runs the task again (``max_retries``),
a file its killed attempt had already stored is replaced whole by path (never stored twice), and only the
attempt that finished sends a report, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.memory._report import IngestReport
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.engines.ray._access import StoreAccess
from kagura.core.memory.ingestion._pipeline import IngestRun, Progress
from kagura.core.memory.ingestion._prepare import FilePreparer, Prepared, RunCounters
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol
from kagura.core.memory.stores._rows import ManifestEntry
from kagura.core.parallel import RetryPolicy
from kagura.loaders import ScannedFile

__all__ = ["BatchResult", "WorkerSpec", "process_batch"]


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
        client: LLMClient | None = None,
    ) -> FilePreparer:
        """The per-file worker of a run with these settings (the driver's and each batch's): it calls the
        LLM through ``client`` (the driver's; a Ray batch passes the one it made from ``llm``)."""
        return FilePreparer(
            root=self.root,
            manifest=manifest,
            llm=client,
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
    failed; on PostgreSQL also the files it stored) and the embedding and LLM counters; ``embedded`` the
    files for the driver to store (SQLite only), as the write stage grouped them with their stacked
    vectors; ``settled``/``settled_failed`` count the files the worker settled itself, for the driver's
    progress."""

    report: IngestReport
    stale: list[str] = field(default_factory=list)
    embedded: list[tuple[list[Prepared], np.ndarray]] = field(default_factory=list)
    settled: int = 0
    settled_failed: int = 0


def process_batch(
    spec: WorkerSpec,
    embedder: Embedder,
    files: list[ScannedFile],
    manifest: dict[str, ManifestEntry],
    access: StoreAccess,
) -> BatchResult:
    """One Ray task: run the local pipeline over ``files`` (``manifest``: their entries, as the driver
    read them), reaching the store through ``access``, and return what it produced. The MiniLM embedder
    unpickles as the worker process's shared default, so each worker process loads the model once,
    whatever the number of batches."""

    async def run_batch() -> BatchResult:
        report = IngestReport(root=str(spec.root))
        counters = RunCounters(timings=report.timings)
        result = BatchResult(report)
        store, claims, writes = await asyncio.to_thread(access.open)
        client = LLMClient(spec.llm) if spec.llm is not None else None  # this batch's, closed below

        async def send_back(batch: list[Prepared], vectors: np.ndarray) -> None:
            result.embedded.append((batch, vectors))

        progress = Progress(None, len(files))
        run = IngestRun(
            store=store,
            embedder=embedder,
            preparer=spec.preparer(manifest, counters, claims, client),
            report=report,
            progress=progress,
            embed_batch_size=spec.embed_batch_size,
            sink=None if writes else send_back,
            claims=claims,
        )
        try:
            await run.run(files, spec.max_concurrent)
        finally:
            if client is not None:
                await client.aclose()
        report.llm_calls = counters.llm_calls
        report.llm_attempts = counters.llm_attempts
        report.llm_cache_hits = counters.llm_cache_hits
        result.stale = run.stale
        result.settled, result.settled_failed = progress.done, progress.failed
        return result

    return asyncio.run(run_batch())
