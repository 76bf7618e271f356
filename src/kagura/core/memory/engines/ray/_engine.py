"""``RayEngine``: an ingestion run's changed files fanned out over a Ray cluster (``kagura[ray]``).

The engine owns the connection (:class:`RayCluster`): it joins the cluster on its first run (the one this
process is connected to, else the one at ``address``, else a new local one) and :meth:`RayEngine.close`
leaves it, stopping every process of a local cluster it started. Between runs it keeps the connection and,
per SQLite store, the actor serving the workers (:class:`StoreActors`). How a run goes is in
:mod:`._driver` (driver side) and :mod:`._worker` (worker side).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from kagura.core.memory.engines.ray._actors import StoreActors
from kagura.core.memory.engines.ray._address import host_and_port
from kagura.core.memory.engines.ray._cluster import RayCluster, import_ray
from kagura.core.memory.engines.ray._driver import run_on_ray
from kagura.core.memory.ingestion._job import IngestJob
from kagura.core.memory.stores._rows import WorkerAccess

__all__ = ["RayEngine"]


def _positive_int(value: object, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be an int >= 1 or None, got {value!r}")
    return value


class RayEngine:
    """Fan the changed files of each run out over a Ray cluster (``pip install 'kagura[ray]'``).

    ``address``: the cluster to join (``"auto"``, ``"host:port"``, ``"ray://host:port"``); default: the
    one this process is connected to, else a new local one (of ``num_cpus`` CPUs, default all). ``workers``:
    Ray tasks at a time (default: one per CPU of the cluster). The driver diffs; the workers extract,
    describe (taking description claims as a local run does) and embed; on PostgreSQL they store their
    files themselves, on SQLite they send them back as they go and the driver stores them. Report,
    progress, incremental and prune semantics are the local engine's.

    ``close()`` (or leaving a ``with`` block) disconnects, and stops every process of a local cluster the
    engine started, its agents and workers included; a cluster this process was connected to already is
    left as it was. It is blocking (a second or two for a local cluster).
    """

    in_process = False
    """The work runs in the cluster's worker processes, each with its own LLM client."""

    def __init__(
        self, address: str | None = None, *, workers: int | None = None, num_cpus: int | None = None
    ) -> None:
        if address is not None:
            if not isinstance(address, str):
                raise TypeError(f"address must be a str or None, got {type(address).__name__}")
            host_and_port(address)  # a malformed address is a ConfigurationError now, not at the run
        self.workers = _positive_int(workers, "workers")
        self.num_cpus = _positive_int(num_cpus, "num_cpus")
        import_ray()  # a missing extra is named now, before any work
        self.address = address
        self._cluster = RayCluster(address, self.num_cpus)
        self._stores: dict[str, StoreActors] = {}
        self._job: Any = None

    def connect(self) -> bool:
        """Join the cluster now instead of on the first run (blocking); True when this call connected
        this process, False when it was connected already (the cluster is then used as is)."""
        joined = self._cluster.joined_here
        self._cluster.at_home(self._join).result()
        return self._cluster.joined_here and not joined

    async def ingest(self, job: IngestJob) -> None:
        ray = await asyncio.wrap_future(self._cluster.at_home(self._join))
        await run_on_ray(job, ray, self._store_actors(job.access), self.workers)

    def _join(self) -> Any:
        """Connect (see :meth:`RayCluster.join`); forget the actors of a cluster this process has left."""
        ray = self._cluster.join()
        job = ray.get_runtime_context().get_job_id()
        if job != self._job:
            self._stores, self._job = {}, job
        return ray

    def _store_actors(self, access: WorkerAccess) -> StoreActors:
        key = access.target
        if key not in self._stores:
            self._stores[key] = StoreActors(access)
        return self._stores[key]

    def close(self) -> None:
        """End this engine's actors, disconnect, and stop the local cluster it started (if it did)."""
        stores, self._stores, self._job = self._stores, {}, None
        try:
            for actors in stores.values():
                actors.close()
        finally:
            self._cluster.leave()

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address!r}, workers={self.workers!r}, num_cpus={self.num_cpus!r})"
