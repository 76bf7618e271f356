"""How a Ray batch reaches the store: directly on PostgreSQL, through the driver's node for SQLite.

A batch (:func:`~kagura.core.memory.engines.ray._worker.process_batch`) receives a
:class:`StoreAccess` and opens it in its worker process, getting the store its local pipeline reads and
writes, the description claims it takes, and whether it writes itself:

* :class:`DirectPostgres` (a ``postgresql://`` store): the worker process opens the store once (one
  connection, :class:`ProcessStores`), reuses it for every batch it runs, reads stored vectors from it
  and writes each embedded file in its own transaction, exactly as a local run does; its claims are the
  PostgreSQL claim table, on the same connection. The driver only merges reports.
* :class:`ThroughDriver` (an SQLite file, which only the driver's machine can open): stored vectors and
  claims go through a :class:`DriverStore` actor pinned to the driver's node; the worker writes nothing
  and sends its embedded files back to the driver, which stores them.

Either way a worker claims on behalf of the driver (:meth:`Claimant.acting_for` the run's
:class:`ClaimOwner`): the claims are the run's, so the driver releases them, and a batch retried after
its worker died takes back the claims of its killed attempt at once instead of waiting for them to expire.

This module does not import Ray: the driver (``_ray_engine``) wraps :class:`DriverStore` as an actor.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from kagura.core.memory.ingestion._pipeline import DocumentStore
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol
from kagura.core.memory.stores._rows import ClaimOwner, NewDocument
from kagura.core.memory.stores.sqlite._claims import DescriptionClaims
from kagura.core.memory.stores.sqlite._store import RAGStore
from kagura.errors import InternalError

if TYPE_CHECKING:
    from kagura.core.memory.stores.postgres import PostgresClaims, PostgresRAGStore

__all__ = ["DirectPostgres", "DriverStore", "Opened", "ProcessStores", "StoreAccess", "ThroughDriver"]


class Opened(NamedTuple):
    """What a batch works with: the store its pipeline sees, the claims it takes (None: no LLM), and
    ``writes``: whether the batch stores its files itself (else it sends them back to the driver)."""

    store: DocumentStore
    claims: DescriptionClaimsProtocol | None
    writes: bool


class StoreAccess:
    """The way a batch reaches the store (picklable: it travels with the batch)."""

    def open(self) -> Opened:  # pragma: no cover - abstract
        raise NotImplementedError


class ProcessStores:
    """The PostgreSQL stores this process has opened, one per URL, kept for the process's life.

    A Ray worker process runs batch after batch (and run after run); reopening the store for each batch
    would cost a connection and a schema check each time, so the process keeps one store (one
    connection, shared by the claims) per URL and closes them when it exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[PostgresRAGStore, PostgresClaims]] = {}
        atexit.register(self.close)

    def get(self, url: str) -> tuple[PostgresRAGStore, PostgresClaims]:
        with self._lock:
            if url not in self._open:
                from kagura.core.memory.stores.postgres import PostgresRAGStore

                store = PostgresRAGStore(url, pool_size=1)
                self._open[url] = (store, store.claims())
            return self._open[url]

    def close(self) -> None:
        with self._lock:
            opened, self._open = self._open, {}
        for store, _ in opened.values():
            store.close()


PROCESS_STORES = ProcessStores()
"""This process's PostgreSQL stores (process state on purpose: it must outlive the batches)."""


@dataclass(frozen=True)
class DirectPostgres(StoreAccess):
    """The worker opens the PostgreSQL store at ``url`` itself, writes to it and claims in it (as
    ``owner``, the driver's claimant; None: no LLM, no claims)."""

    url: str
    owner: ClaimOwner | None

    def open(self) -> Opened:
        store, claims = PROCESS_STORES.get(self.url)
        return Opened(store, None if self.owner is None else claims.acting_for(self.owner), True)


class DriverStore:
    """The driver's SQLite store, served to the workers from the driver's node: stored vectors by chunk
    hash, and the description claims (as ``owner``, the driver's claimant).

    Runs as an actor pinned to the driver's node, where the SQLite file is (WAL mode lets it read and
    claim while the driver writes)."""

    def __init__(self, store_path: str, owner: ClaimOwner | None) -> None:
        self._store = RAGStore(Path(store_path))
        self._claims = None if owner is None else DescriptionClaims(store_path).acting_for(owner)

    def _claims_table(self) -> DescriptionClaims:
        if self._claims is None:
            raise InternalError("this run takes no description claims")  # pragma: no cover
        return self._claims

    def vectors_for_hashes(self, hashes: list[str]) -> dict[str, np.ndarray]:
        return self._store.vectors_for_hashes(hashes)

    def try_claim(self, path: str) -> str | None:
        return self._claims_table().try_claim(path)

    def release(self, path: str) -> None:
        self._claims_table().release(path)

    def release_all(self) -> None:
        self._claims_table().release_all()

    def described(self, path: str) -> tuple[str, str, str] | None:
        return self._claims_table().described(path)


def _ask(actor: Any, method: str, *args: Any) -> Any:
    """Call ``method`` on the driver-side actor and wait for the answer. Called from a worker thread
    (the pipeline runs store and claim calls off the event loop), so waiting blocks nothing else."""
    return getattr(actor, method).remote(*args).future().result()


class _ReadThroughDriver:
    """The store a batch sees on SQLite: lookups through the actor (or none, on a store that held no
    vectors when the run started); writes never reach it (the batch sends its files back)."""

    def __init__(self, actor: Any, reuse: bool) -> None:
        self._actor = actor if reuse else None

    def vectors_for_hashes(self, hashes: list[str]) -> dict[str, np.ndarray]:
        return {} if self._actor is None else _ask(self._actor, "vectors_for_hashes", list(hashes))

    def replace_document(self, doc: NewDocument, vectors: np.ndarray, embedder: str) -> int:
        raise InternalError("a Ray batch on SQLite never writes; the driver does")  # pragma: no cover


class _ClaimsThroughDriver:
    """The SQLite claim table, through the actor (the claims protocol, for a batch's preparer)."""

    def __init__(self, actor: Any, owner: ClaimOwner) -> None:
        self._actor = actor
        self.identity = owner
        self.owner = owner.owner

    def try_claim(self, path: str) -> str | None:
        return _ask(self._actor, "try_claim", path)

    def release(self, path: str) -> None:
        _ask(self._actor, "release", path)

    def release_all(self) -> None:
        _ask(self._actor, "release_all")

    def described(self, path: str) -> tuple[str, str, str] | None:
        return _ask(self._actor, "described", path)

    def close(self) -> None:
        """Nothing to close here: the table's connection is the actor's."""


@dataclass(frozen=True)
class ThroughDriver(StoreAccess):
    """The batch reads vectors (when ``reuse``) and claims (as ``owner``) through the driver-side
    ``actor`` (None when it needs neither), and sends its files back to the driver."""

    actor: Any
    owner: ClaimOwner | None
    reuse: bool

    def open(self) -> Opened:
        claims = None
        if self.owner is not None:
            claims = _ClaimsThroughDriver(self.actor, self.owner)
        return Opened(_ReadThroughDriver(self.actor, self.reuse), claims, False)
