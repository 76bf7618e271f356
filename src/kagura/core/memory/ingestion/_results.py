"""What the per-file work of an ingestion run produces: one of these per file, and the run's LLM counters.

``Unchanged``, and the report's own ``FailedFile`` and ``SkippedPath``, settle a file; ``NeedsDescription``
waits for its LLM call; ``Prepared`` waits to be embedded and stored. They are plain data, so a Ray worker
can send them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kagura.core.memory.stores._rows import NewDocument
from kagura.loaders import Extracted, FileType, ScannedFile

__all__ = ["NeedsDescription", "Prepared", "RunCounters", "Unchanged"]


@dataclass(frozen=True, slots=True)
class Unchanged:
    """Nothing to do. ``model_changed``: the stored LLM description came from another model or prompt
    version and was kept (``redescribe`` was not asked for)."""

    path: str
    model_changed: bool = False


@dataclass(frozen=True, slots=True)
class NeedsDescription:
    """A media file extracted by stage 1, waiting for its LLM description in stage 2."""

    path: Path
    key: str
    scanned: ScannedFile
    extracted: Extracted
    digest: str
    file_type: FileType


@dataclass(slots=True)
class Prepared:
    """A file ready to embed and store. ``failure`` is set when it is stored only partly (undescribed)."""

    doc: NewDocument
    embed_texts: list[str]
    failure: str | None = None
    not_described: bool = False
    claimed: bool = False


LLM_COUNTERS = ("llm_calls", "llm_attempts", "llm_cache_hits")


@dataclass
class RunCounters:
    """LLM counters of one run, shared by the preparer's tasks. ``listener(name, n)`` hears each count as
    it is made (a Ray batch forwards them to the driver at once, so a worker that dies later loses none
    of the calls it paid for)."""

    llm_calls: int = 0
    llm_attempts: int = 0
    llm_cache_hits: int = 0
    described_ahead: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    listener: Callable[[str, int], None] | None = field(default=None, repr=False, compare=False)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the LLM counter ``name`` (one of :data:`LLM_COUNTERS`) and tell the listener."""
        setattr(self, name, getattr(self, name) + n)
        if self.listener is not None and n:
            self.listener(name, n)

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds
