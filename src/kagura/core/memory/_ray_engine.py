"""The driver side of ``load_directory(..., engine="ray")``: diff here, process on Ray tasks, store here.

1. The driver diffs every scanned file against the manifest with the local engine's own check
   (:meth:`FilePreparer.check`: hash and detect, no extraction); unchanged, skipped and unreadable files
   are settled at once, exactly as locally. A rerun with nothing changed never touches the cluster.
2. The changed files are cut into batches, a few per worker, run as Ray tasks (:func:`process_batch`,
   one CPU each, ``workers`` at a time). Each task runs the local pipeline on its batch and returns the
   embedded files.
3. As each batch comes back the driver stores its files, one transaction per file, and reports them
   through :meth:`IngestRun.store_and_report`, the local write stage's own code; progress ticks per file.

Fault tolerance: a task whose worker process dies is run again by Ray (``max_retries``) on a fresh
worker. Workers never write, and the driver writes a file only when its batch has come back, once,
in a per-file transaction: a killed worker loses nothing and indexes nothing twice. A
batch that still fails after the retries has each of its files reported as failed, with the reason; such
a file keeps whatever was indexed for it before (it is not pruned: it is still in the tree).

Not yet: description claims (two concurrent runs never paying twice for one media description) are
held by the driver's local runs only; a Ray batch describes without claiming.

Ray is imported only here, on first use (``pip install 'kagura[ray]'``).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kagura._extras import missing_extra
from kagura.core.memory._pipeline import IngestRun
from kagura.core.memory._prepare import Failed
from kagura.core.memory._ray_worker import BatchResult, StoreReader, WorkerSpec, process_batch
from kagura.core.memory._store import ManifestEntry
from kagura.core.memory.embedders import Embedder
from kagura.core.parallel import parallel_stream
from kagura.errors import ConfigurationError
from kagura.loaders import ScannedFile, display_name

__all__ = ["ENGINES", "RayWorkers", "check_engine", "import_ray", "run_on_ray"]

ENGINES = ("local", "ray")
MAX_BATCH_FILES = 64
BATCHES_PER_WORKER = 4
"""Batches cut per worker at least (while they hold one file or more), so fast workers take more."""
RETRIES = 3
"""Re-runs of a batch whose worker died."""


def check_engine(engine: object) -> str:
    """``engine`` validated: ``"local"`` or ``"ray"``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    return str(engine)


def import_ray() -> Any:
    """The ``ray`` module, or a MissingExtraError (a ConfigurationError) naming the ``ray`` extra."""
    try:
        import ray
    except ImportError as exc:
        raise missing_extra("ray", "engine='ray' (distributed ingestion)") from exc
    return ray


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address`` (``"auto"``, ``"host:port"``), or start a local one when there is
    none; a cluster this process is already connected to is used as is."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    except ConnectionError as exc:
        raise ConfigurationError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc


def batches(files: Sequence[ScannedFile], workers: int) -> list[list[ScannedFile]]:
    """``files`` cut into consecutive batches: ``BATCHES_PER_WORKER`` per worker, at most
    ``MAX_BATCH_FILES`` files each."""
    size = max(1, min(MAX_BATCH_FILES, math.ceil(len(files) / (workers * BATCHES_PER_WORKER))))
    return [list(files[i : i + size]) for i in range(0, len(files), size)]


def _lookup_via(reader: Any, hashes: list[str]) -> dict[str, np.ndarray]:
    """Stored vectors through the driver-side reader actor (called in a worker's thread, so waiting on
    the reply's future never blocks the actor's event loop)."""
    return reader.vectors_for_hashes.remote(hashes).future().result()


def _no_vectors(hashes: list[str]) -> dict[str, np.ndarray]:
    """The lookup of a run that started on an empty store: nothing stored to reuse."""
    return {}


async def _diff(run: IngestRun, files: Sequence[ScannedFile], max_concurrent: int) -> list[ScannedFile]:
    """Settle what the manifest answers; the files to process."""
    todo: list[ScannedFile] = []
    async with parallel_stream(
        run.preparer.check, files, max_concurrent=max_concurrent, return_exceptions=True
    ) as outcomes:
        async for outcome in outcomes:
            if outcome.error is not None:  # not expected: check() reports its own errors
                path = display_name(run.preparer.root / files[outcome.index].relpath)
                run.settle(Failed(path, f"{type(outcome.error).__name__}: {outcome.error}"))
            elif outcome.value is None:
                todo.append(files[outcome.index])
            else:
                run.settle(outcome.value)
    return todo


async def _absorb(run: IngestRun, result: BatchResult) -> None:
    """Merge one batch's report into the run's, then store and report its embedded files."""
    part, report = result.report, run.report
    report.unchanged.extend(part.unchanged)
    report.model_changed.extend(part.model_changed)
    report.failed.extend(part.failed)
    report.skipped.extend(part.skipped)
    report.cache_hits += part.cache_hits
    report.chunks_embedded += part.chunks_embedded
    report.chunks_reused += part.chunks_reused
    for stage, seconds in part.timings.items():
        report.timings[stage] = report.timings.get(stage, 0.0) + seconds
    counters = run.preparer.counters
    counters.llm_calls += part.llm_calls
    counters.llm_attempts += part.llm_attempts
    counters.llm_cache_hits += part.llm_cache_hits
    run.stale.extend(result.stale)
    for i in range(result.settled):
        run.progress.tick(failed=i < result.settled_failed)
    for files, vectors in result.embedded:
        await run.store_and_report(files, vectors)


class RayWorkers:
    """The Ray side of one ``MultimodalRAG``: the connection, and a reader actor next to its SQLite file
    (``num_cpus=0``), kept between runs; ``close()`` (called by ``MultimodalRAG.close``) ends it.

    The batches run as Ray tasks, not long-lived actors: a task holds its CPU only while it runs, so two
    stores ingesting on one cluster share it instead of one waiting forever for CPUs the other's idle
    actors hold; Ray keeps its worker processes, and with them each process's loaded embedder."""

    def __init__(self, store_path: str | Path) -> None:
        self.store_path = store_path
        self._ray: Any = None
        self._job: Any = None
        self._reader: Any = None

    def start(self, address: str | None) -> Any:
        """Connect (see :func:`connect`); forget the reader of a cluster this process has left since."""
        ray = import_ray()
        connect(ray, address)
        job = ray.get_runtime_context().get_job_id()
        if job != self._job:
            self._ray, self._job, self._reader = ray, job, None
        return ray

    def reader(self) -> Any:
        """The reader actor, pinned to this (the driver's) node, started on first use."""
        if self._reader is None:
            ray = self._ray
            here = ray.get_runtime_context().get_node_id()
            pin = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(node_id=here, soft=False)
            self._reader = ray.remote(num_cpus=0, scheduling_strategy=pin)(StoreReader).remote(
                str(self.store_path)
            )
        return self._reader

    def close(self) -> None:
        """End the reader (nothing to do when none was started or the cluster is gone)."""
        ray, reader, self._reader = self._ray, self._reader, None
        if reader is not None and ray is not None and ray.is_initialized():
            ray.kill(reader, no_restart=True)


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


async def run_on_ray(
    run: IngestRun,
    files: Sequence[ScannedFile],
    *,
    pool: RayWorkers,
    spec: WorkerSpec,
    manifest: dict[str, ManifestEntry],
    address: str | None,
    workers: int | None,
    store_empty: bool = False,
) -> None:
    """Process ``files`` for ``run`` with ``workers`` Ray tasks at a time (default: one per CPU of the
    cluster at ``address``); everything is reported into ``run`` as a local run would.

    ``store_empty``: the store held no vectors when the run started, so workers skip the stored-vector
    lookups (and the reader actor is not started)."""
    ray = await asyncio.to_thread(pool.start, address)
    embedder = await asyncio.to_thread(_shareable, ray, run.embedder)
    todo = await _diff(run, files, spec.max_concurrent)
    if not todo:
        return
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    work = batches(todo, workers)
    work.reverse()  # popped from the end: first batch first
    lookup = _no_vectors if store_empty else functools.partial(_lookup_via, pool.reader())
    task = ray.remote(num_cpus=1, max_retries=RETRIES)(process_batch)
    root = run.preparer.root
    pending: dict[asyncio.Future[Any], tuple[Any, list[ScannedFile]]] = {}

    def submit() -> None:
        batch = work.pop()
        keys = (display_name(root / f.relpath) for f in batch)
        entries = {k: manifest[k] for k in keys if k in manifest}
        ref = task.remote(spec, embedder, batch, entries, lookup)
        pending[asyncio.wrap_future(ref.future())] = (ref, batch)

    try:
        while work and len(pending) < workers:
            submit()
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                _, batch = pending.pop(future)
                if work:
                    submit()  # before storing this batch, so the worker never waits on the driver
                try:
                    result = future.result()
                except Exception as exc:  # the batch failed after Ray's retries: report each file
                    reason = f"Ray worker failed after {RETRIES} retries: {type(exc).__name__}: {exc}"
                    for f in batch:
                        run.settle(Failed(display_name(root / f.relpath), reason[:500]))
                else:
                    await _absorb(run, result)
    finally:
        for ref, _ in pending.values():  # cancelled: stop the batches still running
            ray.cancel(ref, force=True)
