"""``kagura run --dry-run --via batch|auto``: the online estimate, repriced at the Batch API's discount.

The plan is the one the run would make from the same estimate :class:`~kagura.jobs.BatchVia` uses: ``batch``
sends every item to the Batch API; ``auto`` does too unless running them all online (at the quota's rate,
with its margin) would not fit in the deadline even now, when everything runs online.
"""

from __future__ import annotations

from typing import Any

from kagura.cli._errors import fail

__all__ = ["batch_estimate"]


def batch_estimate(
    online: dict[str, Any], batch: Any, items: list[Any], priced: tuple[float, float] | None, rate: float
) -> dict[str, Any]:
    """``online`` (the dry run's estimate) with the batch plan: ``plan``, ``batches_estimate``, the cost at
    Batch prices in ``cost_usd_estimate`` / ``cost_usd_worst_case`` (the online figures kept as
    ``online_*``), ``deadline_s`` and the time."""
    from kagura.core.llm.batches import BatchRequest, chunk_requests

    requests = [BatchRequest(item.custom_id, item.body, item.url) for item in items]
    try:
        chunks = sum(1 for _ in chunk_requests(batch.backend, requests, max_tokens=batch.max_tokens))
    except ValueError as exc:
        raise fail(f"cannot batch this job: {exc}", code=2) from None
    online_s = batch.seconds_at(len(requests), rate)
    plan = "batch" if batch.via == "batch" or batch.turnaround + online_s < batch.deadline else "online"
    estimate = {
        **online,
        "via": batch.via,
        "plan": plan,
        "batches_estimate": chunks if plan == "batch" else 0,
        "deadline_s": batch.deadline,
        "online_cost_usd_estimate": online["cost_usd_estimate"],
        "online_cost_usd_worst_case": online["cost_usd_worst_case"],
        "online_time_s_estimate": online["time_s_estimate"],
    }
    if plan == "batch":
        estimate["cost_usd_estimate"] = None if priced is None else round(priced[0], 6)
        estimate["cost_usd_worst_case"] = None if priced is None else round(priced[1], 6)
        estimate["time_s_estimate"] = batch.deadline
        estimate["note"] = (
            "batch: results by the deadline at most (the provider's window is 24 h; most batches end"
            " sooner), at each model's batch price (--prices 'batch' factor); items a batch does not finish"
            " in time run online at the online price; answers assumed 256 tokens at most their max_tokens"
        )
    else:
        estimate["note"] = "auto: running every item online would not fit the deadline: all go online now"
    return estimate
