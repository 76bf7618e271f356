"""The driver side of a Ray ingestion run: diff here, process on Ray tasks, store what they send back.

1. The driver diffs every scanned file against the manifest with the local engine's own check
   (:meth:`FilePreparer.check`: hash and detect, no extraction); unchanged, skipped and unreadable files
   are settled at once, exactly as locally. A rerun with nothing changed never touches the cluster.
2. The changed files are cut into batches, a few per worker, run as Ray tasks (:func:`process_batch`,
   one CPU each, ``workers`` at a time). Each task runs the local pipeline on its batch, description
   claims included, reaching the store as :mod:`._access` says.
3. While the batches run, the driver takes what they send to the run's inbox (a queue actor on its node):
   LLM counts as they are made, and on SQLite each group of embedded files, which it stores at once, one
   transaction per file, and reports through :meth:`IngestRun.store_and_report` (the local write stage's
   own code). On PostgreSQL the workers write their files themselves. When a batch finishes, its report
   (the files it settled, its counters, stale paths) is merged into the run's.

Cancelled (Ctrl-C), the run stops its batches and keeps every file stored so far, the one being written
finished first, as the local engine does.

Fault tolerance: a task whose worker process dies is run again by Ray (``max_retries``) on a fresh
worker. Every write is a per-file transaction that replaces the file's document whole by path; the driver
stores and reports a file it receives twice (from a killed attempt and its retry) once, and a batch's
report reaches it only from the attempt that finished: a killed worker loses nothing, indexes nothing twice
and counts nothing twice, while the LLM calls it paid for are counted. (A media file whose description
was stored before the worker died is found described by the retry, which does not pay again.) A batch that
still fails after the retries has each of its files reported as failed, with the reason; such a file keeps
whatever was indexed for it before (it is not pruned: it is still in the tree).

Description claims: a batch claims each media file before describing it, as a local run does, so two
concurrent runs (Ray or local) never pay twice for one description. The workers claim as the driver
(its :class:`ClaimOwner`): the claims are the run's, released by the driver whatever happens.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from kagura.core.memory._report import FailedFile
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.engines.ray._actors import StoreActors, pinned_here
from kagura.core.memory.engines.ray._worker import BatchResult, Counted, Embedded, process_batch
from kagura.core.memory.ingestion._job import IngestJob
from kagura.core.memory.ingestion._pipeline import IngestRun
from kagura.core.parallel import parallel_stream
from kagura.errors import ConfigurationError, InternalError
from kagura.loaders import ScannedFile, display_name

__all__ = ["BATCHES_PER_WORKER", "MAX_BATCH_FILES", "RETRIES", "batches", "run_on_ray"]

MAX_BATCH_FILES = 64
BATCHES_PER_WORKER = 4
"""Batches cut per worker at least (while they hold one file or more), so fast workers take more."""
RETRIES = 3
"""Re-runs of a batch whose worker died."""


def batches(files: Sequence[ScannedFile], workers: int) -> list[list[ScannedFile]]:
    """``files`` cut into consecutive batches: ``BATCHES_PER_WORKER`` per worker, at most
    ``MAX_BATCH_FILES`` files each."""
    size = max(1, min(MAX_BATCH_FILES, math.ceil(len(files) / (workers * BATCHES_PER_WORKER))))
    return [list(files[i : i + size]) for i in range(0, len(files), size)]


async def _diff(run: IngestRun, files: Sequence[ScannedFile], max_concurrent: int) -> list[ScannedFile]:
    """Settle what the manifest answers; the files to process."""
    todo: list[ScannedFile] = []
    async with parallel_stream(
        run.preparer.check, files, max_concurrent=max_concurrent, return_exceptions=True
    ) as outcomes:
        async for outcome in outcomes:
            if outcome.error is not None:  # not expected: check() reports its own errors
                path = display_name(run.preparer.root / files[outcome.index].relpath)
                run.settle(FailedFile(path, f"{type(outcome.error).__name__}: {outcome.error}"))
            elif outcome.value is None:
                todo.append(files[outcome.index])
            else:
                run.settle(outcome.value)
    return todo


def _absorb(run: IngestRun, result: BatchResult, received: set[str]) -> None:
    """Merge one finished batch's report into the run's (its LLM counts and, on SQLite, its embedded
    files came through the inbox already). A file the driver stored from a killed attempt of this batch
    (``received``) is reported once, as stored: the retry, finding it stored, would call it unchanged."""
    part, report = result.report, run.report
    settled, settled_failed = result.settled, result.settled_failed
    if received:
        again = [p for p in part.unchanged if p in received]
        failed_again = [f for f in part.failed if f.path in received]
        skipped_again = [s for s in part.skipped if s.path in received]
        part.unchanged = [p for p in part.unchanged if p not in received]
        part.model_changed = [p for p in part.model_changed if p not in received]
        part.failed = [f for f in part.failed if f.path not in received]
        part.skipped = [s for s in part.skipped if s.path not in received]
        part.cache_hits -= len(again)
        settled -= len(again) + len(failed_again) + len(skipped_again)
        settled_failed -= len(failed_again)
    for name in ("indexed", "unchanged", "model_changed", "failed", "skipped", "not_described"):
        getattr(report, name).extend(getattr(part, name))
    for name in ("cache_hits", "chunks_added", "chunks_embedded", "chunks_reused"):
        setattr(report, name, getattr(report, name) + getattr(part, name))
    for stage, seconds in part.timings.items():
        report.timings[stage] = report.timings.get(stage, 0.0) + seconds
    run.stale.extend(result.stale)
    for i in range(settled):
        run.progress.tick(failed=i < settled_failed)


class _Receiver:
    """Takes the batches' messages from the inbox until the end marker (None): counts each LLM count,
    stores and reports each embedded file (once, should a retried batch send it again)."""

    def __init__(self, run: IngestRun, inbox: Any) -> None:
        self.run = run
        self.inbox = inbox
        self.received: set[str] = set()
        """The paths of the embedded files received (stored and reported, or failing to store)."""
        self._marks: dict[int, asyncio.Event] = {}
        self._numbers = itertools.count()

    async def run_until_end(self) -> None:
        try:
            while (message := await self.inbox.get_async()) is not None:
                if isinstance(message, Counted):
                    self.run.preparer.counters.count(message.name, message.n)
                elif isinstance(message, Embedded):
                    await self._store(message)
                else:  # a mark: everything put before it is taken
                    self._marks.pop(message).set()
        finally:  # ended (or failed): nobody waits for a mark that will not come
            for event in self._marks.values():
                event.set()

    async def caught_up(self) -> None:
        """Return once every message put in the inbox before this call is taken."""
        mark = next(self._numbers)
        event = self._marks[mark] = asyncio.Event()
        await self.inbox.put_async(mark)
        await event.wait()

    async def _store(self, message: Embedded) -> None:
        keep: list[int] = []
        rows: list[int] = []
        offset = 0
        for i, prepared in enumerate(message.files):
            n = len(prepared.embed_texts)
            if prepared.doc.path not in self.received:
                self.received.add(prepared.doc.path)
                keep.append(i)
                rows.extend(range(offset, offset + n))
            offset += n
        if keep:
            files = [message.files[i] for i in keep]
            vectors = message.vectors if len(keep) == len(message.files) else message.vectors[rows]
            await self.run.store_and_report(files, np.asarray(vectors))


def _shareable(ray: Any, embedder: Embedder) -> Any:
    """``embedder`` in the object store once for the run, or a ConfigurationError saying what to do."""
    try:
        ray.cloudpickle.dumps(embedder)
    except Exception as exc:
        raise ConfigurationError(
            f"the embedder {type(embedder).__name__} cannot be sent to Ray workers ({exc}):"
            " make it picklable (load its model lazily, in the process that uses it)"
        ) from exc
    return ray.put(embedder)


async def run_on_ray(job: IngestJob, ray: Any, stores: StoreActors, workers: int | None) -> None:
    """Process ``job.files`` with ``workers`` Ray tasks at a time (default: one per CPU of the cluster);
    everything is reported into ``job.run`` as a local run would."""
    run, settings = job.run, job.settings
    embedder = await asyncio.to_thread(_shareable, ray, run.embedder)
    todo = await _diff(run, job.files, settings.max_concurrent)
    if not todo:
        return
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    work = batches(todo, workers)
    work.reverse()  # popped from the end: first batch first
    owner = None if run.claims is None else run.claims.identity
    store_empty = await asyncio.to_thread(lambda: job.store.counts()["vectors"] == 0)
    # a store that held no vectors when the run started: the workers skip the stored-vector lookups
    access = await asyncio.to_thread(stores.access, ray, reuse=not store_empty, owner=owner)
    from ray.util.queue import Queue

    inbox = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": pinned_here(ray)})
    receiving = _Receiver(run, inbox)
    receiver = asyncio.ensure_future(receiving.run_until_end())
    task = ray.remote(num_cpus=1, max_retries=RETRIES)(process_batch)
    root = settings.root
    pending: dict[asyncio.Future[Any], tuple[Any, list[ScannedFile]]] = {}

    def submit() -> None:
        batch = work.pop()
        keys = (display_name(root / f.relpath) for f in batch)
        entries = {k: job.manifest[k] for k in keys if k in job.manifest}
        ref = task.remote(settings, embedder, batch, entries, access, inbox)
        pending[asyncio.wrap_future(ref.future())] = (ref, batch)

    try:
        while work and len(pending) < workers:
            submit()
        while pending:
            done, _ = await asyncio.wait([*pending, receiver], return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:  # it ends only at the end marker: here, with an error
                receiver.result()
                raise InternalError("the Ray run's inbox stopped before its batches")  # pragma: no cover
            for future in done:
                _, batch = pending.pop(future)  # (the receiver is not done: checked above)
                if work:
                    submit()  # before merging this batch, so the workers never wait on the driver
                try:
                    result = future.result()
                except Exception as exc:  # the batch failed after Ray's retries: report each file
                    reason = f"Ray worker failed after {RETRIES} retries: {type(exc).__name__}: {exc}"
                    await receiving.caught_up()  # but those its attempts sent back and the driver stored
                    for f in batch:
                        path = display_name(root / f.relpath)
                        if path not in receiving.received:
                            run.settle(FailedFile(path, reason[:500]))
                else:
                    _absorb(run, cast(BatchResult, result), receiving.received)
        await inbox.put_async(None)  # after every batch's last message: take them all, then stop
        await receiver
    finally:
        for ref, _ in pending.values():  # cancelled: stop the batches still running
            ray.cancel(ref, force=True)
        if not receiver.done():  # cancelled: the file being stored is finished first
            receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        ray.kill(inbox.actor, no_restart=True)
