"""One run of a job: a feeder claiming batches from the ledger, senders, and a writer recording outcomes.

- The feeder claims up to ``max_concurrent`` pending items at a time; when none are left but the input's
  new items are still being recorded, it waits for the next batch; when other workers still hold claims,
  it waits and claims again (taking over the claims of workers that died).
- A sender sends the body through the client (with the schema's repairs) under the spend cap (the
  client's ``spend_cap``, or the job's ``spend`` reserved here), and holds its slot until its outcome is
  in the ledger, so calls sent but not recorded never exceed ``max_concurrent``: the most a kill can make
  anyone pay twice.
- The writer records outcomes in batches (one transaction each) and emits them as results.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kagura.core.llm import RawResponse, Usage
from kagura.errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    KaguraError,
    RateLimitedError,
)
from kagura.jobs._input import ENDPOINTS
from kagura.jobs._ledger import Claimed, Outcome, SqlLedger
from kagura.jobs._outcome import failure, outcome_of
from kagura.jobs._report import JobResult

if TYPE_CHECKING:
    from kagura.jobs._job import Job
    from kagura.jobs._recording import Recording

__all__ = ["JobRun"]


class _OverBudget(Exception):
    """The next call's worst case does not fit under the spend cap."""


class JobRun:
    """The moving parts of one run of ``job`` over ``ledger``; ``emit`` (if any) gets each recorded result."""

    def __init__(self, job: Job, ledger: SqlLedger, emit: Callable[[JobResult], None] | None) -> None:
        self.job, self.ledger, self.emit = job, ledger, emit
        self.queue: asyncio.Queue[Claimed | None] = asyncio.Queue(maxsize=job.max_concurrent)
        self.pending: list[tuple[Outcome, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.more = asyncio.Event()
        self.recording: Recording | None = None
        """The file's new items being recorded meanwhile (:meth:`Job._prepare`), if any."""
        self.stop = self.over_budget = self.started = self.finished = self.priced = False
        self.fatal: KaguraError | None = None
        self.sent = 0
        self.cost = 0.0

    async def go(self) -> None:
        self.started = True
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(self._writer())
            heartbeat = group.create_task(self._heartbeat())
            async with asyncio.TaskGroup() as workers:
                workers.create_task(self._feeder())
                for _ in range(self.job.max_concurrent):
                    workers.create_task(self._sender())
            self.finished = True
            self.wake.set()
            await writer
            heartbeat.cancel()

    def shutdown(self) -> None:
        """Record what finished, give back unsent claims (blocking: it runs even while being cancelled)."""
        batch = [outcome for outcome, _ in self.pending]
        self.pending = []
        with contextlib.suppress(Exception):
            self.ledger.settle(batch)
            self._emit(batch)
        with contextlib.suppress(Exception):
            self.ledger.release()

    # -- tasks -------------------------------------------------------------------------------------
    async def _feeder(self) -> None:
        await self._feed()
        for _ in range(
            self.job.max_concurrent
        ):  # then each sender ends (on cancellation, they are cancelled)
            await self.queue.put(None)

    def wake_feeder(self) -> None:
        """More items were recorded (or recording ended): the feeder claims again."""
        self.more.set()

    async def _feed(self) -> None:
        while not self.stop:
            recording = self.recording
            if recording is not None and recording.failed:
                self.stop = True  # the run raises its error
                return
            unrecorded = recording is not None and not recording.done
            self.more.clear()
            claimed = await asyncio.to_thread(self.ledger.claim, max(16, self.job.max_concurrent))
            if not claimed:
                if unrecorded:  # more to come: wait for the next batch (claim again at once if it ended)
                    assert recording is not None
                    if not recording.done:
                        await self.more.wait()
                    continue
                if not await asyncio.to_thread(self.ledger.unfinished_elsewhere):
                    return  # nothing left, nobody else working
                # others hold claims (or rows locked mid-claim): wait, then claim again (the dead's too)
                await asyncio.sleep(self.job.poll_interval)
                continue
            for item in claimed:
                if self.stop:
                    await asyncio.to_thread(self.ledger.release, [item.custom_id])
                else:
                    await self.queue.put(item)

    async def _sender(self) -> None:
        while (item := await self.queue.get()) is not None:
            if self.stop:
                await asyncio.to_thread(self.ledger.release, [item.custom_id])
                continue
            outcome = await self._one(item)
            if outcome is None:
                await asyncio.to_thread(self.ledger.release, [item.custom_id])
                continue
            self._count(outcome)
            recorded = asyncio.get_running_loop().create_future()
            self.pending.append((outcome, recorded))
            self.wake.set()
            await recorded  # the slot is held until the outcome is in the ledger

    async def _writer(self) -> None:
        while True:
            if not self.pending:
                if self.finished:
                    return
                await self.wake.wait()
                self.wake.clear()
                continue
            waiting, self.pending = self.pending, []
            batch = [outcome for outcome, _ in waiting]
            try:
                await asyncio.to_thread(self.ledger.settle, batch)
            except BaseException as exc:
                error = exc if isinstance(exc, Exception) else asyncio.CancelledError()
                for _, recorded in waiting:
                    if not recorded.done():
                        recorded.set_exception(error)
                raise
            for _, recorded in waiting:
                if not recorded.done():
                    recorded.set_result(None)
            self._emit(batch)
            if self.job.on_progress is not None:
                self.job.on_progress(self.job)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.job.claim_ttl / 3)
            await asyncio.to_thread(self.ledger.renew)

    # -- one item ----------------------------------------------------------------------------------
    async def _one(self, item: Claimed) -> Outcome | None:
        """Send ``item`` (and its repairs); its outcome, or None to give it back unsent."""
        job, name = self.job, self.job.name
        body: dict[str, Any] = json.loads(item.body)
        if job.schema is not None:
            body = job.schema.prepare(body)
        usage = Usage()
        repairs = 0
        response: RawResponse | None = None
        invalid: str | None = None
        try:
            while True:
                response = await self._call(item.url, body, first=repairs == 0)
                usage = usage + response.usage
                invalid = job.schema.error(response.body) if job.schema and response.ok else None
                if invalid is None or repairs >= job.schema.max_repairs:  # type: ignore[union-attr]
                    return outcome_of(name, item.custom_id, response, usage, invalid)
                body = job.schema.repair(body, response.body, invalid)  # type: ignore[union-attr]
                repairs += 1
        except _OverBudget:
            if response is None:
                return None
            return outcome_of(
                name, item.custom_id, response, usage, f"{invalid} (repair stopped at the budget)"
            )
        except (AuthenticationError, ConfigurationError) as exc:  # every item would fail alike: stop
            self.fatal, self.stop = self.fatal or exc, True
            return None
        except KaguraError as exc:
            return failure(name, item.custom_id, exc, usage)

    async def _call(self, url: str, body: dict[str, Any], *, first: bool) -> RawResponse:
        """One call under the spend cap: reserve the worst case, send, settle on the real cost."""
        job = self.job
        reserved = 0.0
        if job.spend is not None and job.worst_of is not None:
            worst = job.worst_of(str(body.get("model", "")), body)
            if worst is None or not await job.spend.reserve(worst):
                self.stop = self.over_budget = True
                raise _OverBudget
            reserved = worst
        self.sent += 1
        job.progress["requests"] = self.sent
        spent = reserved  # a timeout or a dropped connection may have been billed: keep the reservation
        try:
            response = await job.client.send(ENDPOINTS[url], body)
            if response.usage.cost_usd is not None:
                spent = response.usage.cost_usd
        except BudgetExceededError:  # the client's own spend cap refused it: nothing was sent
            self.sent -= 1
            job.progress["requests"] = self.sent
            spent, self.stop, self.over_budget = 0.0, True, True
            raise _OverBudget from None
        except (RateLimitedError, AuthenticationError, ConfigurationError):
            spent = 0.0  # refused: never billed
            raise
        finally:
            if job.spend is not None:
                await job.spend.settle(reserved, spent)
        return response

    def _count(self, outcome: Outcome) -> None:
        progress = self.job.progress
        if outcome.cost_usd is not None:
            self.cost += outcome.cost_usd
            self.priced = True
            progress["priced"] = True
        progress[outcome.state] += 1
        progress["tokens"] += outcome.prompt_tokens + outcome.completion_tokens
        progress["cost_usd"] = self.cost

    def _emit(self, batch: list[Outcome]) -> None:
        if self.emit is None:
            return
        for outcome in batch:
            self.emit(JobResult.from_line(outcome.custom_id, outcome.state, outcome.result, outcome.cost_usd))
