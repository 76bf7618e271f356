"""Reading the OpenAI Batch API's answers: output/error file lines, batch statuses, whole-batch failures."""

from __future__ import annotations

from typing import Any

from kagura.core.llm._types import Usage
from kagura.core.llm.batches._types import BatchItemResult, BatchState, BatchStatus, ItemOutcome
from kagura.errors import InvalidRequestError, KaguraError, RateLimitedError

__all__ = ["failure_error", "openai_item_result", "status_of"]

_RUNNING = {"validating", "in_progress", "finalizing"}


def _usage(body: Any) -> Usage | None:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def openai_item_result(line: dict[str, Any]) -> BatchItemResult:
    """One line of an OpenAI batch output or error file as a :class:`BatchItemResult`."""
    custom_id = str(line.get("custom_id", ""))
    response = line.get("response")
    error = line.get("error")
    if isinstance(response, dict) and response.get("status_code") is not None:
        status = int(response["status_code"])
        body = response.get("body")
        outcome: ItemOutcome = "succeeded" if 200 <= status < 300 else "errored"
        usage = _usage(body) if outcome == "succeeded" else None
        request_id = response.get("request_id")
        return BatchItemResult(custom_id, outcome, status, body, error, usage, line, request_id)
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    lost: ItemOutcome = "expired" if code == "batch_expired" else "canceled"
    outcome = lost if code in ("batch_expired", "batch_cancelled") else "errored"
    return BatchItemResult(
        custom_id, outcome, None, None, error if isinstance(error, dict) else None, None, line
    )


def failure_error(batch: Any) -> KaguraError:
    errors = list(batch.errors.data or []) if batch.errors is not None else []
    detail = "; ".join(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "") for e in errors)
    if any(e.code == "token_limit_exceeded" for e in errors):
        return RateLimitedError(f"batch {batch.id} failed: over the enqueued-token limit: {detail}")
    return InvalidRequestError(f"batch {batch.id} failed validation: {detail or 'no reason given'}")


def status_of(batch: Any) -> BatchStatus:
    counts = batch.request_counts
    total, done, failed = (counts.total, counts.completed, counts.failed) if counts else (0, 0, 0)
    status = batch.status
    state: BatchState = (
        "running" if status in _RUNNING else "cancelling" if status == "cancelling" else "ended"
    )
    left = max(0, total - done - failed)
    failure = str(failure_error(batch)) if status == "failed" else None
    return BatchStatus(
        batch.id,
        state,
        status,
        total,
        done,
        failed,
        processing=left if state != "ended" else 0,
        canceled=left if status == "cancelled" else 0,
        expired=left if status == "expired" else 0,
        failure=failure,
    )
