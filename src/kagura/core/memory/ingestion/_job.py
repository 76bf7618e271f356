"""One ingestion run's work as an engine receives it, and what an engine is (the part of the run that
processes the changed files, somewhere: :mod:`kagura.core.memory.engines`).

``MultimodalRAG.load_directory`` scans the tree, reads the manifest and builds one :class:`IngestJob`; the
engine processes the job's files (extract, chunk, describe, embed, store) and reports every file into
``job.run`` (its report, progress and stale paths) exactly as the local pipeline does; the run then prunes
and answers. An engine may hold resources between runs (a cluster connection, actors): ``close()`` ends
them, and an engine is a context manager that closes itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kagura.core.memory.ingestion._pipeline import IngestRun
from kagura.core.memory.ingestion._settings import RunSettings
from kagura.core.memory.stores._protocol import RAGStoreProtocol
from kagura.core.memory.stores._rows import WorkerAccess
from kagura.core.memory.stores.sqlite._store import ManifestEntry
from kagura.loaders import ScannedFile

__all__ = ["Engine", "IngestJob"]


@dataclass(frozen=True, slots=True)
class IngestJob:
    """One run's work, as an engine receives it.

    ``run``: the local pipeline of this run (its report, progress, preparer and claims; the local engine
    runs it as is). ``files``: every scanned file, unchanged ones included (an engine settles those through
    ``run``). ``settings``: the run's settings, to make more preparers alike. ``manifest``: the store's
    entries under the root when the run started. ``store`` and ``access``: the store, and how workers in other
    processes reach it (as the store answers: :meth:`~RAGStoreProtocol.worker_access`).
    """

    run: IngestRun
    files: Sequence[ScannedFile]
    settings: RunSettings
    manifest: dict[str, ManifestEntry]
    store: RAGStoreProtocol
    access: WorkerAccess


@runtime_checkable
class Engine(Protocol):
    """Where an ingestion run's per-file work happens: :class:`~kagura.core.memory.LocalEngine` (this
    process) or :class:`~kagura.core.memory.RayEngine` (a Ray cluster).

    An engine may also say ``in_process = True`` (its work runs in this process, so this process's LLM
    client, spend cap and descriptions made ahead serve it); without it, an engine is taken to run
    elsewhere."""

    async def ingest(self, job: IngestJob) -> None:
        """Process ``job.files`` and report each one into ``job.run``; on cancel, keep what is stored."""
        ...

    def close(self) -> None:
        """Release what the engine holds between runs (idempotent; blocking)."""
        ...
