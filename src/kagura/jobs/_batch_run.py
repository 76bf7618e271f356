"""``--via batch|auto``: a job's pending items through the provider's Batch API, before the online path.

:class:`BatchVia` runs inside :meth:`Job.run <kagura.jobs.Job.run>` after the input is recorded and before
the online workers start:

1. **Resume.** Chunks recorded as an intent but without a batch are submitted again with the same ``since``
   and ``known`` batch ids: the backend lists the batches made since then and returns the chunk's batch if
   it exists, so a crash between creating a batch and recording it never submits the chunk twice.
2. **Submit.** The pending items are cut into chunks (the backend's limits); each chunk's intent is
   recorded (its items held by it) before anything is uploaded, then its handle once the batch exists.
3. **Follow.** Every open batch is polled (:class:`~kagura.core.llm.batches.PollSchedule`); an ended batch's
   results are applied once each and its unanswered items go back to pending. At the *cutover* every open
   batch is cancelled (its finished part is kept) and the rest goes online: for ``batch``, the deadline;
   for ``auto``, the moment when the time left only just covers running the unfinished items online
   (``margin`` x items / the client's request rate, plus ``slack`` seconds).
4. **Re-batch.** Items a batch gives back (expired, or failed for a transient reason) go into a new batch
   when time allows: the expected turnaround of a batch (the longest this job's batches took, at least
   ``turnaround``) plus the time to run them online afterwards still fits before the deadline. Otherwise,
   or once an item has been in ``max_rounds`` batches, they run online.

With a dollar cap (``job.spend``), each chunk's worst case at Batch prices is reserved before it is
submitted and settled on its real cost when collected (:mod:`kagura.jobs._batch_spend`); when not even one
request fits, nothing more is submitted and the job stops at the cap without running online.

The deadline counts from the job's first batch intent still open or made within the deadline (a resumed
job keeps its deadline; new lines added to a job whose batches are older start a new one). Whatever is
pending afterwards (cancelled, expired, transient failures, or the whole job when ``auto`` sees no time
for a batch) runs online in the same run, through the same ledger and output.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from kagura._checks import check_choice, check_int
from kagura.core.llm.batches import (
    BatchBackend,
    BatchHandle,
    BatchRequest,
    ChunkTag,
    PollSchedule,
    chunk_digest,
    chunk_requests,
)
from kagura.errors import ConfigurationError, KaguraError, RateLimitedError, RetryableError
from kagura.jobs._batch_ledger import BatchLedger, PendingItem
from kagura.jobs._batch_outcome import chunk_outcomes
from kagura.jobs._batch_spend import BatchSpend
from kagura.jobs._deadline import DEFAULT_DEADLINE
from kagura.jobs._ledger import SqlLedger
from kagura.jobs._report import JobResult

if TYPE_CHECKING:
    from kagura.jobs._job import Job

__all__ = ["BatchVia"]

Via = Literal["batch", "auto"]


class BatchVia:
    """How a job uses the Batch API: ``via`` (``"batch"`` or ``"auto"``), the ``backend``, the ``deadline``
    in seconds, ``margin``/``slack`` of the online estimate, ``rate`` (online requests per second; default
    the client's configured requests per minute / 60, else ``max_concurrent`` per second), ``max_tokens``
    enqueued per chunk, the poll ``schedule``, ``turnaround`` (seconds a batch is expected to take before
    one of the job's has ended) and ``max_rounds`` (batches an item goes into at most). After a run:
    ``batches_created``, ``rebatched`` (items put in a new batch), ``cut_over`` and ``over_budget``."""

    def __init__(
        self,
        via: Via,
        backend: BatchBackend,
        *,
        deadline: float = DEFAULT_DEADLINE,
        margin: float = 1.5,
        slack: float = 2.0,
        rate: float | None = None,
        max_tokens: int | None = None,
        schedule: PollSchedule | None = None,
        turnaround: float = 0.0,
        max_rounds: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_choice("via", via, ("batch", "auto"))
        if deadline <= 0 or margin < 1 or slack < 0 or (rate is not None and rate <= 0) or turnaround < 0:
            raise ValueError(
                "BatchVia needs deadline > 0, margin >= 1, slack >= 0, rate > 0 and turnaround >= 0"
            )
        check_int("max_rounds", max_rounds)
        self.via, self.backend, self.deadline = via, backend, float(deadline)
        self.margin, self.slack, self.rate, self.max_tokens = margin, slack, rate, max_tokens
        self.schedule = schedule or PollSchedule()
        self.turnaround, self.max_rounds = float(turnaround), max_rounds
        self.clock = clock
        self.batches_created = self.rebatched = 0
        self.cut_over = self.over_budget = False
        self.priced = False
        """Some batch result had a price (the report then shows the job's cost)."""
        self.seen_turnaround = 0.0
        """The longest a batch of this job took from its intent to its end, as seen by this run."""
        self._deadline_at = 0.0
        self._open: dict[int, BatchHandle] = {}
        self._sizes: dict[int, int] = {}
        self._since: dict[int, float] = {}
        self._known: list[str] = []
        self._spend = BatchSpend(None, None, None)

    # -- the estimate ------------------------------------------------------------------------------
    def _rate(self, job: Job) -> float:
        if self.rate is not None:
            return self.rate
        rpm = job.client.budget[0]
        return rpm / 60.0 if rpm else float(job.max_concurrent)

    def online_seconds(self, job: Job, items: int) -> float:
        """How long ``items`` would take online under the job's quota, with the safety margin."""
        return self.seconds_at(items, self._rate(job))

    def seconds_at(self, items: int, rate: float) -> float:
        """How long ``items`` would take online at ``rate`` per second, with the safety margin."""
        return self.margin * items / rate + self.slack if items else 0.0

    def expected_turnaround(self) -> float:
        """Seconds a new batch is expected to take: the longest seen, at least ``turnaround``."""
        return max(self.turnaround, self.seen_turnaround)

    def rebatch_fits(self, job: Job, items: int) -> bool:
        """A new batch of ``items`` is expected to end with time left to run them online if it does not."""
        left = self._deadline_at - self.clock()
        return self.expected_turnaround() + self.online_seconds(job, items) < left

    def _cutover_at(self, job: Job, unfinished: int) -> float:
        if self.via == "batch":
            return self._deadline_at
        return self._deadline_at - self.online_seconds(job, unfinished)

    # -- the run -----------------------------------------------------------------------------------
    async def run(self, job: Job, ledger: SqlLedger, emit: Callable[[JobResult], None]) -> None:
        book = BatchLedger(ledger)
        spend = self._spend = BatchSpend(*_cap_of(job), job.client.prices)
        rows = await asyncio.to_thread(book.batches)
        now = self.clock()  # the deadline runs from the first batch still open or made within it, else now
        live = [r.since for r in rows if r.state != "collected" or r.since > now - self.deadline]
        self._deadline_at = min(live, default=now) + self.deadline
        self._known = [str(row.handle["batch_id"]) for row in rows if row.handle]
        self._open, self._sizes = {}, {row.chunk: row.size for row in rows}
        self._since = {row.chunk: row.since for row in rows}
        for row in rows:
            if row.state == "submitted" and row.handle:
                self._open[row.chunk] = BatchHandle.from_dict(row.handle)
                held = await asyncio.to_thread(book.chunk_items, row.chunk)
                await spend.hold(row.chunk, self._requests(job, held))
            elif row.state == "intent" and book.abandoned(row):  # a live worker's intent is its own
                requests = self._requests(job, await asyncio.to_thread(book.chunk_items, row.chunk))
                if not requests or chunk_digest(requests) != row.digest:  # items changed by hand: online
                    await asyncio.to_thread(book.collect, row.chunk, [])
                    continue
                await spend.hold(row.chunk, requests)
                handle = await self._submit_requests(book, row.chunk, requests, row.since)
                if handle is None:
                    await spend.settle(row.chunk, 0.0)
                else:
                    self._open[row.chunk] = handle
        pending = await asyncio.to_thread(book.pending)
        expected = self.turnaround if self.via == "auto" else 0.0  # batch: every item tries the batch
        if pending and self.clock() + expected < self._cutover_at(job, len(pending)):
            await self._submit_items(job, book, pending)
        for row in await asyncio.to_thread(book.batches):  # other workers' batches too: collecting is shared
            if row.state == "submitted" and row.handle and row.chunk not in self._open:
                self._open[row.chunk], self._sizes[row.chunk] = BatchHandle.from_dict(row.handle), row.size
        await self._follow(job, book, emit)

    def _requests(self, job: Job, items: list[PendingItem]) -> list[BatchRequest]:
        requests = []
        for item in items:
            body = json.loads(item.body)
            if job.schema is not None:
                body = job.schema.prepare(body)
            requests.append(BatchRequest(item.custom_id, body, item.url))
        return requests

    async def _submit_items(self, job: Job, book: BatchLedger, items: list[PendingItem]) -> int:
        """Cut ``items`` into chunks and submit them (intent first, under the cap); the items submitted."""
        try:
            requests = self._requests(job, items)
            chunks = list(chunk_requests(self.backend, requests, max_tokens=self.max_tokens))
        except ValueError as exc:  # one request alone passes a batch's limits
            raise ConfigurationError(f"cannot batch this job: {exc}") from None
        rows = await asyncio.to_thread(book.batches)
        next_chunk = max([row.chunk for row in rows] + list(self._sizes), default=-1) + 1
        submitted = 0
        for whole in chunks:
            chunk, reserved = await self._spend.take(whole)
            if not chunk:
                self.over_budget = True
                break
            since, ids = self.clock(), [request.custom_id for request in chunk]
            if not await asyncio.to_thread(book.record_intent, next_chunk, chunk_digest(chunk), since, ids):
                await self._spend.release(reserved)
                break  # another worker is batching this job too: follow its batches
            self._spend.book(next_chunk, reserved)
            handle = await self._submit_requests(book, next_chunk, chunk, since)
            if handle is None:
                await self._spend.settle(next_chunk, 0.0)
                break  # the provider takes no more now (enqueued-token limit): the rest goes online
            self._open[next_chunk], self._sizes[next_chunk] = handle, len(chunk)
            self._since[next_chunk] = since
            submitted += len(chunk)
            next_chunk += 1
            if len(chunk) < len(whole):  # the cap cut this chunk: nothing more fits
                self.over_budget = True
                break
        return submitted

    async def _submit_requests(
        self, book: BatchLedger, chunk: int, requests: list[BatchRequest], since: float
    ) -> BatchHandle | None:
        tag = ChunkTag(book.job[:400], chunk, chunk_digest(requests))
        try:
            handle = await self.backend.submit(requests, tag, since=since, known=self._known)
        except RateLimitedError:
            await asyncio.to_thread(book.collect, chunk, [])  # never made: its items go online
            return None
        await asyncio.to_thread(book.record_batch, chunk, handle.to_dict())
        self._known.append(handle.batch_id)
        self.batches_created += 1
        return handle

    async def _follow(self, job: Job, book: BatchLedger, emit: Callable[[JobResult], None]) -> None:
        open_ = self._open
        unfinished = {chunk: self._sizes.get(chunk, 0) for chunk in open_}
        start, attempt = self.clock(), 0
        planned = float("inf")  # once the loop sleeps until a cutover, it keeps it (no ever-shorter polls)
        while open_:
            back = False
            for chunk, handle in list(open_.items()):
                try:
                    status = await self.backend.poll(handle)
                except RetryableError:
                    continue
                unfinished[chunk] = status.processing
                if status.ended:
                    back = bool(await self._collect(job, book, chunk, handle, emit)) or back
                    del open_[chunk], unfinished[chunk]
            if back and not self.cut_over:  # what this round's ended batches gave back: one new batch
                await self._rebatch(job, book)
                unfinished.update({c: self._sizes[c] for c in open_ if c not in unfinished})
            if not open_:
                return
            now = self.clock()
            cutover = min(planned, self._cutover_at(job, sum(unfinished.values())))
            if not self.cut_over and now >= cutover:
                self.cut_over = True
                for handle in open_.values():
                    try:
                        await self.backend.cancel(handle)
                    except KaguraError:  # it ended meanwhile, or the provider is busy: polled next
                        pass
                continue
            wait = self.schedule.delay(attempt, now - start)
            if not self.cut_over and cutover - now <= wait:
                wait, planned = max(0.0, cutover - now), cutover
            await asyncio.sleep(wait)
            attempt += 1

    async def _rebatch(self, job: Job, book: BatchLedger) -> None:
        """Items given back by ended batches into a new batch, when time allows (else they run online)."""
        items = await asyncio.to_thread(book.pending, self.max_rounds)
        if items and not self.over_budget and self.rebatch_fits(job, len(items)):
            self.rebatched += await self._submit_items(job, book, items)

    async def _collect(
        self, job: Job, book: BatchLedger, chunk: int, handle: BatchHandle, emit: Callable[[JobResult], None]
    ) -> list[str]:
        """Apply an ended batch's results once each; the custom_ids it gave back (now pending)."""
        if not self.cut_over and chunk in self._since:
            self.seen_turnaround = max(self.seen_turnaround, self.clock() - self._since[chunk])
        models = {
            item.custom_id: str(json.loads(item.body).get("model", ""))
            for item in await asyncio.to_thread(book.chunk_items, chunk)
        }
        prices = job.client.prices
        outcomes = await chunk_outcomes(self.backend, handle, models, job.name, prices, job.schema)
        self.priced = self.priced or any(outcome.cost_usd is not None for outcome in outcomes)
        back = await asyncio.to_thread(book.collect, chunk, outcomes)
        await self._spend.settle(chunk, sum(outcome.cost_usd or 0.0 for outcome in outcomes))
        for outcome in outcomes:
            progress = job.progress
            progress[outcome.state] += 1
            progress["tokens"] += outcome.prompt_tokens + outcome.completion_tokens
            progress["cost_usd"] += outcome.cost_usd or 0.0
            emit(JobResult.from_line(outcome.custom_id, outcome.state, outcome.result, outcome.cost_usd))
        if outcomes and job.on_progress is not None:
            job.on_progress(job)
        return back


def _cap_of(job: Job) -> tuple[Any, Any]:
    """The dollar cap the batches reserve on, and the worst case per call: the job's own, else its client's
    (``LLMClient(spend_cap=...)``: the same cap the online calls reserve on, priced by the client's table)."""
    if job.spend is not None or job.client.spend_cap is None:
        return job.spend, job.worst_of
    if job.worst_of is not None:
        return job.client.spend_cap, job.worst_of
    from kagura.core.llm.control import body_token_bounds, worst_case_usd

    prices = job.client.prices

    def worst_of(model: str, body: dict[str, Any]) -> float | None:
        price = prices.price(model) if prices is not None else None
        return None if price is None else worst_case_usd(price, *body_token_bounds(body))

    return job.client.spend_cap, worst_of
