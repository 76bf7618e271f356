"""The local engine: the run's own pipeline, in this process (``asyncio`` plus worker threads)."""

from __future__ import annotations

from types import TracebackType

from kagura.core.memory.ingestion._job import IngestJob

__all__ = ["LocalEngine"]


class LocalEngine:
    """Run the ingestion pipeline in this process: ``max_concurrent`` files extracted at once, as many LLM
    calls in flight, one writer. Holds nothing between runs (``close()`` does nothing)."""

    in_process = True
    """The work runs in this process (see :class:`~kagura.core.memory.engines.Engine`)."""

    async def ingest(self, job: IngestJob) -> None:
        await job.run.run(job.files, job.settings.max_concurrent)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return "LocalEngine()"
