"""The driver side of ``load_directory(..., engine="ray")``: diff here, process on Ray tasks.

1. The driver diffs every scanned file against the manifest with the local engine's own check
   (:meth:`FilePreparer.check`: hash and detect, no extraction); unchanged, skipped and unreadable files
   are settled at once, exactly as locally. A rerun with nothing changed never touches the cluster.
2. The changed files are cut into batches, a few per worker, run as Ray tasks (:func:`process_batch`,
   one CPU each, ``workers`` at a time). Each task runs the local pipeline on its batch, description
   claims included, reaching the store as :mod:`._ray_access` says.
3. On PostgreSQL the workers write their files themselves, one transaction per file, and the driver only
   merges each batch's report, counters, progress and stale paths. On SQLite (a file only the driver's
   machine can open) each batch returns its embedded files and the driver stores them, one transaction
   per file, and reports them through :meth:`IngestRun.store_and_report`, the local write stage's own code.

Fault tolerance: a task whose worker process dies is run again by Ray (``max_retries``) on a fresh
worker. Every write is a per-file transaction that replaces the file's document whole by path, and a
batch's report reaches the driver only from the attempt that finished: a killed worker loses nothing,
indexes nothing twice and counts nothing twice. (A media file whose description the killed attempt had
already stored is found described by the retry, which reports it unchanged rather than paying again.) A
batch that still fails after the retries has each of its files reported as failed, with the reason; such
a file keeps whatever was indexed for it before (it is not pruned: it is still in the tree).

Description claims: a batch claims each media file before describing it, as a local run does, so two
concurrent runs (Ray or local) never pay twice for one description. The workers claim as the driver
(its :class:`ClaimOwner`): the claims are the run's, released by the driver whatever happens.

Ray is imported only here, on first use (``pip install 'kagura[ray]'``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kagura._extras import missing_extra
from kagura.core.memory._claims import ClaimOwner
from kagura.core.memory._report import FailedFile
from kagura.core.memory._store import ManifestEntry
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.engines.ray._access import DirectPostgres, DriverStore, StoreAccess, ThroughDriver
from kagura.core.memory.engines.ray._address import PROBE_TIMEOUT, check_reachable
from kagura.core.memory.engines.ray._worker import BatchResult, WorkerSpec, process_batch
from kagura.core.memory.ingestion._pipeline import IngestRun
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


def connect(ray: Any, address: str | None, *, probe_timeout: float = PROBE_TIMEOUT) -> None:
    """Join the cluster at ``address`` (``"auto"``, ``"host:port"``), or start a local one when there is
    none; a cluster this process is already connected to is used as is. A ``host:port`` that accepts no
    connection within ``probe_timeout`` seconds is a ConfigurationError at once (Ray would retry it for
    many minutes)."""
    if ray.is_initialized():
        return
    check_reachable(address, probe_timeout)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    except ConnectionError as exc:
        raise ConfigurationError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc


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


async def _absorb(run: IngestRun, result: BatchResult) -> None:
    """Merge one batch's report into the run's, then store and report the embedded files it sent back
    (SQLite; on PostgreSQL the batch stored them and its report lists them)."""
    part, report = result.report, run.report
    for name in ("indexed", "unchanged", "model_changed", "failed", "skipped", "not_described"):
        getattr(report, name).extend(getattr(part, name))
    for name in ("cache_hits", "chunks_added", "chunks_embedded", "chunks_reused"):
        setattr(report, name, getattr(report, name) + getattr(part, name))
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
    """The Ray side of one ``MultimodalRAG``: the connection, and (SQLite) a :class:`DriverStore` actor
    next to its file (``num_cpus=0``), kept between runs; ``close()`` (called by ``MultimodalRAG.close``)
    ends it.

    The batches run as Ray tasks, not long-lived actors: a task holds its CPU only while it runs, so two
    stores ingesting on one cluster share it instead of one waiting forever for CPUs the other's idle
    actors hold; Ray keeps its worker processes, and with them each process's loaded embedder."""

    def __init__(self, store_path: str | Path) -> None:
        self.store_path = store_path
        self._ray: Any = None
        self._job: Any = None
        self._actor: Any = None
        self._actor_owner: ClaimOwner | None = None

    def start(self, address: str | None) -> Any:
        """Connect (see :func:`connect`); forget the actor of a cluster this process has left since."""
        ray = import_ray()
        connect(ray, address)
        job = ray.get_runtime_context().get_job_id()
        if job != self._job:
            self._ray, self._job, self._actor = ray, job, None
        return ray

    def access(self, *, reuse: bool, owner: ClaimOwner | None) -> StoreAccess:
        """How this run's batches reach the store: directly (PostgreSQL), or through the driver-side
        actor for stored vectors (``reuse``) and claims (as ``owner``; None: no LLM, no claims)."""
        if isinstance(self.store_path, str):
            return DirectPostgres(self.store_path, owner)
        needed = reuse or owner is not None
        return ThroughDriver(self._driver_store(owner) if needed else None, owner, reuse)

    def _driver_store(self, owner: ClaimOwner | None) -> Any:
        """The DriverStore actor claiming as ``owner``, pinned to this (the driver's) node, started on
        first use (and again if the claimant changed)."""
        if self._actor is not None and self._actor_owner != owner:
            self.close()
        if self._actor is None:
            ray = self._ray
            here = ray.get_runtime_context().get_node_id()
            pin = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(node_id=here, soft=False)
            self._actor = ray.remote(num_cpus=0, scheduling_strategy=pin)(DriverStore).remote(
                str(self.store_path), owner
            )
            self._actor_owner = owner
        return self._actor

    def close(self) -> None:
        """End the DriverStore actor (nothing to do when none was started or the cluster is gone)."""
        ray, actor, self._actor = self._ray, self._actor, None
        if actor is not None and ray is not None and ray.is_initialized():
            ray.kill(actor, no_restart=True)


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
    lookups (on SQLite: through the actor, not started at all when there are no claims either)."""
    ray = await asyncio.to_thread(pool.start, address)
    embedder = await asyncio.to_thread(_shareable, ray, run.embedder)
    todo = await _diff(run, files, spec.max_concurrent)
    if not todo:
        return
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    work = batches(todo, workers)
    work.reverse()  # popped from the end: first batch first
    owner = None if run.claims is None else run.claims.identity
    access = await asyncio.to_thread(pool.access, reuse=not store_empty, owner=owner)
    task = ray.remote(num_cpus=1, max_retries=RETRIES)(process_batch)
    root = run.preparer.root
    pending: dict[asyncio.Future[Any], tuple[Any, list[ScannedFile]]] = {}

    def submit() -> None:
        batch = work.pop()
        keys = (display_name(root / f.relpath) for f in batch)
        entries = {k: manifest[k] for k in keys if k in manifest}
        ref = task.remote(spec, embedder, batch, entries, access)
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
                        run.settle(FailedFile(display_name(root / f.relpath), reason[:500]))
                else:
                    await _absorb(run, result)
    finally:
        for ref, _ in pending.values():  # cancelled: stop the batches still running
            ray.cancel(ref, force=True)
