"""``kagura run --via batch|auto``: the flags' Batch API backend and :class:`~kagura.jobs.BatchVia`."""

from __future__ import annotations

from typing import Any

from kagura.cli._errors import fail

__all__ = ["batch_via", "run_with_batches", "via_summary"]


def batch_via(setup: Any, via: str, deadline: float, batch_size: int | None, api_key: str | None) -> Any:
    """The :class:`~kagura.jobs.BatchVia` for the job's endpoint (its OpenAI-compatible Batch API)."""
    from dataclasses import replace

    from kagura.core.llm.batches import OPENAI_BATCH_LIMITS, OpenAIBatchBackend
    from kagura.errors import KaguraError
    from kagura.jobs import BatchVia

    limits = (
        OPENAI_BATCH_LIMITS if batch_size is None else replace(OPENAI_BATCH_LIMITS, max_requests=batch_size)
    )
    try:
        backend = OpenAIBatchBackend(setup.config.base_url, api_key or setup.config.api_key, limits=limits)
    except (KaguraError, ValueError) as exc:
        raise fail(str(exc), api_key, code=2) from None
    return BatchVia(via, backend, deadline=deadline)  # type: ignore[arg-type]


async def run_with_batches(setup: Any, job: Any) -> Any:
    """``setup.run(job)``, closing the batch backend after it."""
    try:
        return await setup.run(job)
    finally:
        if job.batch is not None:
            await job.batch.backend.aclose()


def via_summary(setup: Any, job: Any) -> dict[str, Any]:
    """``{"via": {"batch"|"online": {"items", "cost_usd"}}, "batches_created": n}`` (empty when online)."""
    if job.batch is None:
        return {}
    from kagura.jobs import open_ledger
    from kagura.jobs._batch_ledger import BatchLedger

    def read() -> dict[str, Any]:
        ledger = open_ledger(setup.ledger, job.name)
        try:
            return BatchLedger(ledger).via_counts()
        finally:
            ledger.close()

    counts = read()
    return {"via": counts, "batches_created": job.batch.batches_created, "cut_over": job.batch.cut_over}
