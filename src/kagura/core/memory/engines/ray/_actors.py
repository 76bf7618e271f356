"""The actors a Ray run keeps on the driver's node: per SQLite store, a :class:`DriverStore` serving the
workers its stored vectors and description claims; and the placement that pins them there."""

from __future__ import annotations

from typing import Any

from kagura.core.memory.engines.ray._access import DirectPostgres, DriverStore, StoreAccess, ThroughDriver
from kagura.core.memory.stores._rows import ClaimOwner, WorkerAccess

__all__ = ["StoreActors", "pinned_here"]


def pinned_here(ray: Any) -> Any:
    """A scheduling strategy placing an actor on this (the driver's) node, where the SQLite file is and
    which outlives any worker node."""
    here = ray.get_runtime_context().get_node_id()
    return ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(node_id=here, soft=False)


class StoreActors:
    """How the batches of runs on one store reach it; for an SQLite file, a :class:`DriverStore` actor
    next to it (``num_cpus=0``), kept between runs and ended by :meth:`close`.

    The batches themselves run as Ray tasks, not long-lived actors: a task holds its CPU only while it
    runs, so two stores ingesting on one cluster share it instead of one waiting forever for CPUs the
    other's idle actors hold; Ray keeps its worker processes, and with them each process's loaded
    embedder."""

    def __init__(self, where: WorkerAccess) -> None:
        self.where = where
        self._ray: Any = None
        self._actor: Any = None
        self._actor_owner: ClaimOwner | None = None

    def access(self, ray: Any, *, reuse: bool, owner: ClaimOwner | None) -> StoreAccess:
        """How this run's batches reach the store: directly (PostgreSQL), or through the driver-side
        actor for stored vectors (``reuse``) and claims (as ``owner``; None: no LLM, no claims)."""
        self._ray = ray
        if self.where.shared:
            return DirectPostgres(self.where.target, owner)
        needed = reuse or owner is not None
        return ThroughDriver(self._driver_store(owner) if needed else None, owner, reuse)

    def _driver_store(self, owner: ClaimOwner | None) -> Any:
        """The DriverStore actor claiming as ``owner``, pinned to this node, started on first use (and
        again if the claimant changed)."""
        if self._actor is not None and self._actor_owner != owner:
            self.close()
        if self._actor is None:
            ray = self._ray
            self._actor = ray.remote(num_cpus=0, scheduling_strategy=pinned_here(ray))(DriverStore).remote(
                self.where.target, owner
            )
            self._actor_owner = owner
        return self._actor

    def close(self) -> None:
        """End the DriverStore actor (nothing to do when none was started or the cluster is gone)."""
        ray, actor, self._actor = self._ray, self._actor, None
        if actor is not None and ray is not None and ray.is_initialized():
            ray.kill(actor, no_restart=True)
