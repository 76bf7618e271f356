"""``kagura run``'s flags -> a client, prices, a schema check and a spend cap, each checked before any call.

Every user error here ends the command with ``error: ...`` and exit code 2 (nothing was sent).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from kagura.cli._errors import fail
from kagura.core.llm.control import DEFAULT_MAX_TOKENS

__all__ = ["DEFAULT_MAX_TOKENS", "JobSetup", "dry_run_estimate", "setup_job"]


def _bad(message: str, *secrets: str | None) -> typer.Exit:
    return fail(message, *secrets, code=2)


def _load_schema(path: Path) -> Any:
    """The :class:`~kagura.jobs.JobSchema` in ``path`` (exit 2 when unreadable or not a JSON Schema)."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _bad(f"cannot read the schema file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _bad(f"the schema file {path} is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise _bad(f"the schema file {path} must hold a JSON Schema object")
    from kagura.errors import KaguraError
    from kagura.jobs import JobSchema

    try:
        return JobSchema(schema)
    except (KaguraError, ValueError) as exc:
        raise _bad(f"{path}: {exc}") from None


@dataclass
class JobSetup:
    """What the flags built: ``config``, ``prices``, ``schema``, the cap, and the ledger location."""

    config: Any
    prices: Any
    schema: Any
    budget_usd: float | None
    redis: str | None
    ledger: str
    ledger_shown: str
    model: str | None
    max_concurrent: int
    error: BaseException | None = None
    error_code: int = 1

    def worst_of(self, model: str, body: dict[str, Any]) -> float | None:
        """The most ``body`` can cost: every input byte a token, and its whole ``max_tokens`` answer."""
        from kagura.core.llm.control import body_token_bounds, worst_case_usd

        price = self.prices.price(model)
        if price is None:
            return None
        return worst_case_usd(price, *body_token_bounds(body))

    def job(self, requests: Path, out: Path, *, retry_failed: bool, on_progress: Any) -> Any:
        from kagura.core.llm import LLMClient
        from kagura.jobs import Job

        client = LLMClient(self.config, prices=self.prices)
        return Job(
            requests, ledger=self.ledger, client=client, name=out.name, out=out, model=self.model,
            max_concurrent=self.max_concurrent, retry_failed=retry_failed, schema=self.schema,
            on_progress=on_progress,
        )  # fmt: skip

    async def run(self, job: Any) -> Any:
        """Run ``job`` with its client's spend cap (made here, on the loop, from what the ledger already
        spent); user errors are kept in ``error``."""
        from kagura.errors import AuthenticationError, ConfigurationError, JobInputError, KaguraError

        try:
            if self.budget_usd is not None:
                job.client.spend_cap = await self._cap(job)
            return await job.run()
        except JobInputError as exc:
            self.error, self.error_code = exc, 2
        except (AuthenticationError, ConfigurationError) as exc:
            self.error, self.error_code = exc, 2 if job.report is None or not job.report.requests else 1
        except KaguraError as exc:
            self.error, self.error_code = exc, 1
        finally:
            await job.client.aclose()  # its spend cap's connections too
        return None

    async def _cap(self, job: Any) -> Any:
        import asyncio

        from kagura.core.llm import SpendCap
        from kagura.jobs import open_ledger

        def spent() -> float:
            ledger = open_ledger(self.ledger, job.name)
            try:
                return ledger.counts().cost_usd
            finally:
                ledger.close()

        already = await asyncio.to_thread(spent)
        assert self.budget_usd is not None
        if self.redis:
            key = (
                "kagura:jobs:spend:" + hashlib.sha256(f"{self.ledger}\0{job.name}".encode()).hexdigest()[:24]
            )
            return SpendCap(self.budget_usd, spent=already, redis=self.redis, key=key)
        return SpendCap(self.budget_usd, spent=already)


def _models_without_price(requests: Path, model: str | None, prices: Any, target: str, job: str) -> list[str]:
    """The models of ``requests`` with no price. The blocks of lines that the job's ledger (when it
    exists) recorded unchanged are not parsed again: their models are in the ledger."""
    from kagura.jobs._input_blocks import file_models

    ledger = _existing_ledger(target, job)
    try:
        found = file_models(ledger, requests, model)
    finally:
        if ledger is not None:
            ledger.close()
    return sorted(name for name in found.models if prices.price(name) is None)


def _existing_ledger(target: str, job: str) -> Any:
    """The ledger at ``target`` when it already exists (None: a first run, or a ledger that cannot be
    opened here: the job itself then says why)."""
    from kagura.errors import KaguraError
    from kagura.jobs import open_ledger

    if "://" not in target and not Path(target).expanduser().is_file():
        return None
    try:
        return open_ledger(target, job)
    except (KaguraError, ValueError, OSError):
        return None


def setup_job(requests: Path, out: Path, *, model: str | None, base_url: str | None, api_key: str | None,
              rpm: float | None, tpm: float | None, redis: str | None, ledger: str | None,
              budget_usd: float | None, prices: Path | None, schema: Path | None,
              max_concurrent: int) -> JobSetup:  # fmt: skip
    """Check every flag and build the parts; ``typer.Exit(2)`` with one line for any user error."""
    if not requests.is_file():
        raise _bad(f"no requests file at {requests}")
    if out.exists() and out.is_dir():
        raise _bad(f"--out {out} is a directory; give a file path")
    from kagura.core.llm import LLMConfig, PriceTable
    from kagura.errors import KaguraError

    try:
        table = PriceTable.from_file(prices) if prices is not None else PriceTable.from_env()
        config = LLMConfig(
            model=model or None, base_url=base_url or None, api_key=api_key or None, max_attempts=8,
            requests_per_minute=int(rpm) if rpm else None, tokens_per_minute=int(tpm) if tpm else None,
            redis_url=redis,
        )  # fmt: skip
    except (KaguraError, ValueError, TypeError) as exc:
        raise _bad(str(exc), api_key) from None
    job_schema = _load_schema(schema) if schema is not None else None
    target = ledger or str(out) + ".ledger.db"
    from kagura.core.memory.stores import describe_target

    shown = describe_target(target)
    default_model = model or os.environ.get("KAGURA_LLM_MODEL") or config.model_name
    if budget_usd is not None:
        from kagura.errors import JobInputError

        try:
            missing = _models_without_price(requests, default_model, table, target, out.name)
        except JobInputError as exc:
            raise _bad(str(exc)) from None
        if missing:
            raise _bad(
                f"--budget-usd needs a price for every model; none for {', '.join(repr(m) for m in missing)}:"
                ' give them in --prices FILE ({"model": {"input": USD/1M, "output": USD/1M}})'
            )
    return JobSetup(
        config, table, job_schema, budget_usd, redis, target, shown, default_model, max_concurrent
    )


def dry_run_estimate(setup: JobSetup, requests: Path, batch: Any = None) -> dict[str, Any]:
    """Requests, tokens, dollars and time the input would take, from the input alone (nothing sent).

    With ``batch`` (the run's :class:`~kagura.jobs.BatchVia`): the dollars at each model's Batch API
    discount too, the batches it would make, and the plan and time :func:`batch_estimate` gives."""
    from kagura.core.llm._request import estimate_body_tokens
    from kagura.errors import JobInputError
    from kagura.jobs._input import JobRequest, scan
    from kagura.jobs._prepare import check_file, file_lines

    try:
        check_file(requests, setup.model)
    except JobInputError as exc:
        raise _bad(str(exc)) from None
    count = prompt = answer = 0
    cost: float | None = 0.0
    worst = batch_cost = batch_worst = 0.0
    bodies: list[Any] = []
    for item in scan(file_lines(requests), setup.model):
        if not isinstance(item, JobRequest):
            continue
        count += 1
        chat = "messages" in item.body
        limit = _answer_or_default(item.body) if chat else 0
        tokens = estimate_body_tokens(item.body) - limit
        expected = min(limit, 256)
        prompt += tokens
        answer += expected
        model = str(item.body.get("model"))
        price = setup.prices.price(model)
        if price is None:
            cost = None
        elif cost is not None:
            dollars = (tokens * price.input + expected * price.output) * 1e-6
            most = setup.worst_of(model, item.body) or 0.0
            cost, worst = cost + dollars, worst + most
            batch_cost, batch_worst = batch_cost + dollars * price.batch, batch_worst + most * price.batch
        if batch is not None:
            bodies.append(item)
    rpm = setup.config.requests_per_minute
    tpm = setup.config.tokens_per_minute
    minutes = [count / rpm] if rpm else []
    if tpm:
        minutes.append((prompt + answer) / tpm)
    estimate = {
        "requests": count,
        "prompt_tokens_estimate": prompt,
        "completion_tokens_estimate": answer,
        "cost_usd_estimate": None if cost is None else round(cost, 6),
        "cost_usd_worst_case": None if cost is None else round(worst, 6),
        "time_s_estimate": round(max(minutes) * 60, 1) if minutes else None,
        "note": "time needs --rpm/--tpm (else the quota is learned at run time); answers assumed 256 tokens"
        " at most their max_tokens",
    }
    if batch is None:
        return estimate
    from kagura.cli._batch_estimate import batch_estimate

    priced = None if cost is None else (batch_cost, batch_worst)
    return batch_estimate(estimate, batch, bodies, priced, rpm / 60 if rpm else float(setup.max_concurrent))


def _answer_or_default(body: dict[str, Any]) -> int:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 256
