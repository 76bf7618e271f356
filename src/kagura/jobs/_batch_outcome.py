"""A batch item's result as the ledger's :class:`Outcome`: the same output line as the online path, priced
at the provider's Batch rates. Items the batch did not answer for good (expired, cancelled, a transient
error) give no outcome: they go back to the online path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kagura.core.llm import PriceTable, Usage
from kagura.core.llm.batches import BatchBackend, BatchHandle, BatchItemResult
from kagura.jobs._ledger import Outcome
from kagura.jobs._outcome import _line
from kagura.jobs._schema import JobSchema

__all__ = ["batch_outcome", "chunk_outcomes"]

_TRANSIENT = {408, 409, 429}


def _message(body: Mapping[str, Any] | None, status: int) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return str(message) if message else f"HTTP {status}"


def batch_outcome(
    job: str, result: BatchItemResult, model: str, prices: PriceTable | None, schema: JobSchema | None
) -> Outcome | None:
    """The outcome of ``result`` (None: run it again online). ``model`` prices its usage."""
    status = result.status_code
    if result.ok and status is not None:
        usage = result.usage or Usage()
        cost = None if prices is None else prices.cost(model, usage, batch=True)
        invalid = schema.error(dict(result.body or {})) if schema is not None else None
        error = None if invalid is None else {"code": "schema_validation", "message": invalid}
        return Outcome(
            result.custom_id,
            "done" if error is None else "failed",
            _line(job, result.custom_id, result.response, error),
            reason=invalid,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=cost,
        )
    if status is not None and 400 <= status < 500 and status not in _TRANSIENT:  # the request is wrong
        message = _message(result.body, status)
        error = {"code": f"http_{status}", "message": message}
        line = _line(job, result.custom_id, result.response, error)
        return Outcome(result.custom_id, "failed", line, message, 0, 0, 0.0 if prices is not None else None)
    return None


async def chunk_outcomes(
    backend: BatchBackend, handle: BatchHandle, models: Mapping[str, str], job: str,
    prices: PriceTable | None, schema: JobSchema | None,
) -> list[Outcome]:  # fmt: skip
    """The outcomes of an ended batch's results for the items in ``models`` (custom_id -> model): results
    of other items (already applied, or another chunk's) are skipped."""
    outcomes: list[Outcome] = []
    async for result in backend.results(handle):
        if result.custom_id in models:
            outcome = batch_outcome(job, result, models[result.custom_id], prices, schema)
            if outcome is not None:
                outcomes.append(outcome)
    return outcomes
