"""What a job run says at the end (:class:`JobReport`) and what it yields per item (:class:`JobResult`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["JobReport", "JobResult"]


@dataclass(frozen=True, slots=True)
class JobResult:
    """One finished item, as written to the output: ``state`` is ``"done"`` or ``"failed"``; ``line`` is
    its Batch output line, and ``record`` that line decoded (``id``, ``custom_id``, ``response``,
    ``error``), decoded only when read: a run that only counts its results never parses them again."""

    custom_id: str
    state: str
    line: str
    cost_usd: float | None = None

    @property
    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(self.line)
        return record

    @property
    def response(self) -> dict[str, Any] | None:
        return self.record.get("response")

    @property
    def error(self) -> dict[str, Any] | None:
        return self.record.get("error")

    @classmethod
    def from_line(cls, custom_id: str, state: str, line: str, cost_usd: float | None) -> JobResult:
        return cls(custom_id, state, line, cost_usd)


@dataclass(frozen=True, slots=True)
class JobReport:
    """The job's state after a run. ``done``/``failed``/``pending`` count every item in the ledger (all
    runs); ``requests``, ``rate_limited`` and ``run_cost_usd`` are this run's; ``cost_usd`` and the tokens
    are the job's total. ``stopped_at_budget``: the dollar cap stopped admitting calls; ``interrupted``:
    the run was cancelled (Ctrl-C)."""

    done: int
    failed: int
    pending: int
    requests: int
    rate_limited: int
    cost_usd: float
    run_cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    elapsed_s: float
    stopped_at_budget: bool = False
    interrupted: bool = False
    priced: bool = True

    @property
    def exit_code(self) -> int:
        """The command line's exit code: 130 interrupted, 3 stopped at the cap, 1 failures, else 0."""
        if self.interrupted:
            return 130
        if self.stopped_at_budget:
            return 3
        if self.failed or self.pending:
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6) if self.priced else None
        data["run_cost_usd"] = round(self.run_cost_usd, 6) if self.priced else None
        data["exit_code"] = self.exit_code
        return data
