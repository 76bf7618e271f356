"""The worker side of a distributed ingestion: what one Ray task does with a batch of files.

A :func:`process_batch` task runs the *local* pipeline (:class:`IngestRun` over a :class:`FilePreparer`)
on one batch: extract, chunk, claim and describe media through the LLM layer, embed, and store. The MiniLM
embedder is never shipped: it unpickles as the worker process's default, loaded once per process and kept
by Ray's pooled worker processes from batch to batch and run to run.

While it runs, a batch sends the driver, through the run's inbox (a queue actor on the driver's node):

* each LLM count as it is made (:class:`Counted`): a worker killed later has already told the driver
  about every call it paid for, so the report counts the requests the provider received;
* on SQLite (a file only the driver's machine can open, see :mod:`._access`), each group of files as soon
  as it is embedded (:class:`Embedded`): the driver stores each in its own transaction with the local
  run's code, so a run interrupted mid-batch keeps every file already embedded. On PostgreSQL the worker
  writes each file itself, in its own transaction.

Its return value (:class:`BatchResult`) carries the rest of its report. A worker killed mid-batch loses
nothing: Ray runs the task again (``max_retries``), a file stored twice is replaced whole by path (and the
driver reports a file it received twice once), and only the attempt that finished returns a report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kagura.core.llm import LLMClient
from kagura.core.memory._report import IngestReport
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.engines.ray._access import StoreAccess
from kagura.core.memory.ingestion._pipeline import IngestRun, Progress
from kagura.core.memory.ingestion._prepare import Prepared, RunCounters
from kagura.core.memory.ingestion._settings import RunSettings
from kagura.core.memory.stores.sqlite._store import ManifestEntry
from kagura.loaders import ScannedFile

__all__ = ["BatchResult", "Counted", "Embedded", "process_batch"]


@dataclass(frozen=True, slots=True)
class Counted:
    """``n`` more of the LLM counter ``name`` (``llm_calls``, ``llm_attempts``, ``llm_cache_hits``)."""

    name: str
    n: int


@dataclass(frozen=True, slots=True)
class Embedded:
    """Files embedded on a worker, for the driver to store (SQLite), with their stacked vectors."""

    files: list[Prepared]
    vectors: np.ndarray


@dataclass
class BatchResult:
    """What one batch reports when it finishes: ``report`` holds the files settled on the worker
    (unchanged, skipped, failed; on PostgreSQL also the files it stored) and the embedding counters (its
    LLM counts went to the driver as they were made); ``settled``/``settled_failed`` count the files the
    worker settled itself, for the driver's progress."""

    report: IngestReport
    stale: list[str] = field(default_factory=list)
    settled: int = 0
    settled_failed: int = 0


def process_batch(
    settings: RunSettings,
    embedder: Embedder,
    files: list[ScannedFile],
    manifest: dict[str, ManifestEntry],
    access: StoreAccess,
    inbox: Any,
) -> BatchResult:
    """One Ray task: run the local pipeline over ``files`` (``manifest``: their entries, as the driver
    read them), reaching the store through ``access`` and telling the driver through ``inbox`` (a
    ``ray.util.queue.Queue``) what it counts and embeds as it goes. The MiniLM embedder unpickles as the
    worker process's shared default, so each worker process loads the model once, whatever the number of
    batches."""

    async def run_batch() -> BatchResult:
        report = IngestReport(root=str(settings.root))
        sending: set[asyncio.Future[Any]] = set()

        def forward(name: str, n: int) -> None:  # on the loop, as the count is made: sent at once
            sent = asyncio.ensure_future(inbox.put_async(Counted(name, n)))
            sending.add(sent)
            sent.add_done_callback(sending.discard)

        counters = RunCounters(timings=report.timings, listener=forward)
        result = BatchResult(report)
        store, claims, writes = await asyncio.to_thread(access.open)
        client = LLMClient(settings.llm) if settings.llm is not None else None  # this batch's, closed below

        async def send_back(batch: list[Prepared], vectors: np.ndarray) -> None:
            await inbox.put_async(Embedded(batch, vectors))

        progress = Progress(None, len(files))
        run = IngestRun(
            store=store,
            embedder=embedder,
            preparer=settings.preparer(manifest, counters, claims, client),
            report=report,
            progress=progress,
            embed_batch_size=settings.embed_batch_size,
            sink=None if writes else send_back,
            claims=claims,
        )
        try:
            await run.run(files, settings.max_concurrent)
        finally:  # every count reaches the driver before the batch's report does
            while sending:
                await asyncio.gather(*list(sending), return_exceptions=True)
            if client is not None:
                await client.aclose()
        result.stale = run.stale
        result.settled, result.settled_failed = progress.done, progress.failed
        return result

    return asyncio.run(run_batch())
