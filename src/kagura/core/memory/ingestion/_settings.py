"""The settings of one ingestion run, from which each of its file preparers is made.

The driver's preparer (the manifest diff, and the whole work on the local engine) and each Ray batch's are
made from the same :class:`RunSettings`, so a file is processed alike wherever it runs. The embedder is not
part of them: an engine passes it on its own way (the Ray engine puts it in the object store once a run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.memory.ingestion._prepare import FilePreparer, RunCounters
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol
from kagura.core.memory.stores.sqlite._store import ManifestEntry
from kagura.core.parallel import RetryPolicy

__all__ = ["RunSettings"]


@dataclass(frozen=True)
class RunSettings:
    """Everything a preparer needs to process a file exactly as any other of the run would."""

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
