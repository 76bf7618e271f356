"""``kagura run --via batch|auto``: the flags' Batch API backend and :class:`~kagura.jobs.BatchVia`."""

from __future__ import annotations

from typing import Any

from kagura.cli._errors import fail

__all__ = ["batch_via", "run_with_batches", "via_summary"]


def batch_via(setup: Any, via: str, deadline: float, batch_size: int | None, api_key: str | None) -> Any:
    """The :class:`~kagura.jobs.BatchVia` for the job's endpoint: Anthropic Message Batches for the
    ``anthropic`` provider, else the OpenAI-compatible ``/v1/batches``."""
    from dataclasses import replace

    from kagura.core.llm.batches import (
        ANTHROPIC_BATCH_LIMITS,
        OPENAI_BATCH_LIMITS,
        AnthropicBatchBackend,
        OpenAIBatchBackend,
    )
    from kagura.errors import KaguraError
    from kagura.jobs import BatchVia

    config = setup.config
    provider = config.provider_name
    key = api_key or config.api_key
    try:
        if provider == "anthropic":
            limits = ANTHROPIC_BATCH_LIMITS
            if batch_size is not None:
                limits = replace(limits, max_requests=batch_size)
            root = None if config.base_url is None else config.base_url.rstrip("/").removesuffix("/v1")
            backend: Any = AnthropicBatchBackend(root, key, limits=limits)
        elif provider == "gemini":
            raise fail("--via batch|auto: kagura has no Gemini batch backend yet; use --via online", code=2)
        else:
            limits = OPENAI_BATCH_LIMITS
            if batch_size is not None:
                limits = replace(limits, max_requests=batch_size)
            backend = OpenAIBatchBackend(config.base_url, key, limits=limits)
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
    """``{"via": {"batch"|"online": {"items", "cost_usd"}}, "batches_created": n, "rebatched": items,
    "cut_over": bool}`` (empty when online)."""
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
    batch = job.batch
    return {"via": counts, "batches_created": batch.batches_created, "rebatched": batch.rebatched,
            "cut_over": batch.cut_over}  # fmt: skip
