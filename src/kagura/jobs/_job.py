"""``Job``: requests + a ledger + an :class:`~kagura.core.llm.LLMClient`, run durably.

::

    async with LLMClient(LLMConfig(base_url=..., model=...)) as client:
        job = Job("requests.jsonl", ledger="results.jsonl.ledger.db", client=client, out="results.jsonl")
        report = await job.run()                  # or: async for result in job.results(): ...

A run checks and records every request first (nothing is sent if any is bad), then claims pending items
from the ledger in batches and sends each once through the client (its admission, adaptive control and
retries), recording each outcome with its output line. A crash loses only the calls in flight; the same
run again resumes. Several processes running the same job share the work through the ledger's claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagura._checks import check_max_concurrent
from kagura.core.llm import LLMClient, SpendCap
from kagura.errors import ConfigurationError
from kagura.jobs._batch_ledger import BatchLedger
from kagura.jobs._ledger import Counts, SqlLedger
from kagura.jobs._ledgers import CLAIM_TTL, open_ledger
from kagura.jobs._prepare import FilePlan, plan_file, register, register_async
from kagura.jobs._recording import Recording
from kagura.jobs._report import JobReport, JobResult
from kagura.jobs._run import JobRun
from kagura.jobs._schema import JobSchema

if TYPE_CHECKING:
    from kagura.jobs._batch_run import BatchVia

__all__ = ["Job", "write_output"]

Requests = str | Path | Iterable[Any] | AsyncIterable[Any]
WorstOf = Callable[[str, dict[str, Any]], "float | None"]


def write_output(ledger: SqlLedger, out: Path) -> int:
    """Write every finished item's output line, in input order, to ``out`` atomically; how many."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for line in ledger.results():
            handle.write(line + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)
    return count


class Job:
    """A durable run of LLM requests.

    - ``requests``: a JSONL path, or any iterable / async iterable of lines or dicts (each the Batch
      format or the short form, see :mod:`kagura.jobs._input`).
    - ``ledger``: a SQLite path, a ``postgresql://`` URL or an open ledger (left open).
    - ``client``: the :class:`LLMClient` every call goes through (its ``base_url`` must end in ``/v1``).
    - ``name``: the job's name inside the ledger (one database may hold many jobs).
    - ``out``: write the output file (Batch output format) from the ledger when the run ends.
    - ``model``: the model of lines without one (default: the client's ``config.model``).
    - ``max_concurrent``: calls in flight at most from this process.
    - ``retry_failed``: put failed items back to pending first.
    - ``schema``: a JSON Schema (dict) or :class:`JobSchema` every chat answer must match (sent as the
      response format, invalid answers repaired, then the item fails with the validation error).
    - ``worst_of(model, body)``: the most a call can cost in dollars (None: unknown); a call's real cost
      is its usage priced by the client's :class:`~kagura.core.llm.PriceTable`.
    - ``spend``: a :class:`SpendCap` (needs ``worst_of``): no call starts that could pass it. Prefer the
      client's own (``LLMClient(..., spend_cap=...)``): the job stops alike when the client refuses.
    - ``on_progress(job)``: called after each batch of outcomes is recorded (read :attr:`progress`).
    - ``batch``: a :class:`~kagura.jobs.BatchVia`: pending items go through the provider's Batch API
      first (``--via batch|auto``); what it leaves pending runs online.
    """

    def __init__(
        self,
        requests: Requests,
        *,
        ledger: str | Path | SqlLedger,
        client: LLMClient,
        name: str = "default",
        out: str | Path | None = None,
        model: str | None = None,
        max_concurrent: int = 64,
        retry_failed: bool = False,
        schema: dict[str, Any] | JobSchema | None = None,
        worst_of: WorstOf | None = None,
        spend: SpendCap | None = None,
        claim_ttl: float = CLAIM_TTL,
        poll_interval: float = 0.5,
        on_progress: Callable[[Job], None] | None = None,
        batch: BatchVia | None = None,
    ) -> None:
        if not isinstance(client, LLMClient):
            raise TypeError(f"client must be an LLMClient, got {type(client).__name__}")
        check_max_concurrent(max_concurrent)
        if spend is not None and worst_of is None:
            raise ValueError("a spend cap needs worst_of(model, body): the worst case to reserve per call")
        if isinstance(requests, str | bytes) and not isinstance(requests, str):
            raise TypeError("requests must be a path, or an iterable of lines or dicts")
        self.requests = requests
        self.client, self.name, self.model = client, name, model or client.config.model_name
        self.out = None if out is None else Path(out)
        self._ledger_target, self.max_concurrent = ledger, max_concurrent
        self.retry_failed, self.spend = retry_failed, spend
        self.schema = JobSchema(schema) if isinstance(schema, dict) else schema
        self.worst_of, self.claim_ttl, self.poll_interval = worst_of, claim_ttl, poll_interval
        self.on_progress, self.batch = on_progress, batch
        self.report: JobReport | None = None
        """The last run's report (set however the run ended, interrupted included)."""
        self.progress = {"done": 0, "failed": 0, "requests": 0, "tokens": 0, "cost_usd": 0.0}
        """This run's counters so far (plus ``total`` and ``finished_before`` once the input is read)."""

    # -- public ------------------------------------------------------------------------------------
    async def run(self) -> JobReport:
        """Run the job to its end (or the spend cap); the :class:`JobReport`."""
        await self._execute(None)  # nobody reads the results: none are made
        assert self.report is not None
        return self.report

    async def results(self) -> AsyncIterator[JobResult]:
        """Run the job, yielding each item's :class:`JobResult` once it is recorded in the ledger."""
        queue: asyncio.Queue[JobResult | None] = asyncio.Queue()
        runner = asyncio.ensure_future(self._execute(queue.put_nowait))
        runner.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (result := await queue.get()) is not None:
                yield result
            await runner
        finally:
            if not runner.done():
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner

    # -- the run -----------------------------------------------------------------------------------
    def _open(self) -> tuple[SqlLedger, bool]:
        if isinstance(self._ledger_target, SqlLedger):
            return self._ledger_target, False
        return open_ledger(self._ledger_target, self.name, ttl=self.claim_ttl), True

    async def _prepare(self, ledger: SqlLedger) -> FilePlan | None:
        """Check the requests and record them; for a file, only its check happens here (its plan is
        returned): its new items are recorded by :attr:`JobRun.recording` while the first calls go out."""
        source = self.requests
        if isinstance(source, str | Path):
            path = Path(source)
            if not await asyncio.to_thread(path.is_file):
                raise ConfigurationError(f"no requests file at {path}")
            plan = await asyncio.to_thread(plan_file, ledger, path, self.model)
            if self.retry_failed:
                await asyncio.to_thread(ledger.retry_failed)
            states = await asyncio.to_thread(ledger.states)  # the index alone: no scan before the first call
            self._count(states, plan.new_items)
            return plan
        if isinstance(source, AsyncIterable):
            await register_async(ledger, source, self.model)
        else:
            await asyncio.to_thread(register, ledger, source, self.model, "the requests")
        if self.retry_failed:
            await asyncio.to_thread(ledger.retry_failed)
        self._count(await asyncio.to_thread(ledger.states), 0)
        return None

    def _count(self, states: dict[str, int], unrecorded: int) -> None:
        self.progress["total"] = sum(states.values()) + unrecorded
        self.progress["finished_before"] = states.get("done", 0) + states.get("failed", 0)

    async def _execute(self, emit: Callable[[JobResult], None] | None) -> None:
        started = time.monotonic()
        rate_limited_before = self.client.rate_limited
        ledger, owned = await asyncio.to_thread(self._open)
        run = JobRun(self, ledger, emit)
        interrupted = True
        try:
            ready = asyncio.ensure_future(self.client.ready())  # the SDK's import overlaps the input's check
            try:
                plan = await self._prepare(ledger)
            except BaseException:
                ready.cancel()
                raise
            finally:
                with contextlib.suppress(asyncio.CancelledError, Exception):  # a call raises it again
                    await ready
            if plan is not None and plan.changed:  # after the SDK's import: it is on the first call's path
                loop = asyncio.get_running_loop()
                run.recording = Recording(
                    ledger, Path(str(self.requests)), self.model, plan, loop, run.wake_feeder
                )
            if run.recording is not None and self.batch is not None:  # batches need every item recorded
                await run.recording.finished()
            if self.batch is not None:
                await self.batch.run(self, ledger, emit or _ignore)
                run.over_budget = self.batch.over_budget  # the cap stopped the batches: nothing online
            elif await asyncio.to_thread(BatchLedger(ledger).open_batches):
                raise ConfigurationError(
                    "this job has batches in flight (from an earlier --via batch|auto run): run it with"
                    " --via batch or auto to collect them first"
                )
            if not run.over_budget:
                await run.go()
            if run.recording is not None:
                await run.recording.finished()  # its errors (a body another worker sent meanwhile)
            interrupted = False
        finally:
            if run.recording is not None:
                run.recording.stop()  # blocking: what it recorded is committed before the ledger closes
            run.shutdown()  # blocking on purpose: it must finish even while the task is being cancelled
            counts = ledger.counts()
            if self.out is not None and (run.started or self.out.exists() or counts.done + counts.failed):
                write_output(ledger, self.out)
            self.report = _report(self, counts, run, started, rate_limited_before, interrupted)
            if owned:
                ledger.close()
        if run.fatal is not None:
            raise run.fatal


def _ignore(_: JobResult) -> None:
    pass


def _report(
    job: Job, counts: Counts, run: JobRun, started: float, limited: int, interrupted: bool
) -> JobReport:
    return JobReport(
        done=counts.done,
        failed=counts.failed,
        pending=counts.pending + counts.running,
        requests=run.sent,
        rate_limited=job.client.rate_limited - limited,
        cost_usd=counts.cost_usd,
        run_cost_usd=run.cost,
        prompt_tokens=counts.prompt_tokens,
        completion_tokens=counts.completion_tokens,
        elapsed_s=time.monotonic() - started,
        stopped_at_budget=run.over_budget,
        interrupted=interrupted and run.fatal is None,
        priced=job.worst_of is not None
        or job.client.spend_cap is not None
        or run.priced
        or (job.batch is not None and job.batch.priced),
    )
