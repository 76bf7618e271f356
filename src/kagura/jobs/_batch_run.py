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
from typing import TYPE_CHECKING, Literal

from kagura._checks import check_choice
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
from kagura.jobs._batch_outcome import batch_outcome
from kagura.jobs._deadline import DEFAULT_DEADLINE
from kagura.jobs._ledger import Outcome, SqlLedger
from kagura.jobs._report import JobResult

if TYPE_CHECKING:
    from kagura.jobs._job import Job

__all__ = ["BatchVia"]

Via = Literal["batch", "auto"]


class BatchVia:
    """How a job uses the Batch API: ``via`` (``"batch"`` or ``"auto"``), the ``backend``, the ``deadline``
    in seconds, ``margin``/``slack`` of the online estimate, ``rate`` (online requests per second; default
    the client's configured requests per minute / 60, else ``max_concurrent`` per second), ``max_tokens``
    enqueued per chunk, and the poll ``schedule``. After a run: ``batches_created`` and ``cut_over``."""

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
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_choice("via", via, ("batch", "auto"))
        if deadline <= 0 or margin < 1 or slack < 0 or (rate is not None and rate <= 0):
            raise ValueError("BatchVia needs deadline > 0, margin >= 1, slack >= 0 and rate > 0")
        self.via, self.backend, self.deadline = via, backend, float(deadline)
        self.margin, self.slack, self.rate, self.max_tokens = margin, slack, rate, max_tokens
        self.schedule = schedule or PollSchedule()
        self.clock = clock
        self.batches_created = 0
        self.cut_over = False
        self.priced = False
        """Some batch result had a price (the report then shows the job's cost)."""
        self._deadline_at = 0.0

    # -- the estimate ------------------------------------------------------------------------------
    def _rate(self, job: Job) -> float:
        if self.rate is not None:
            return self.rate
        rpm = job.client.budget[0]
        return rpm / 60.0 if rpm else float(job.max_concurrent)

    def online_seconds(self, job: Job, items: int) -> float:
        """How long ``items`` would take online, with the safety margin."""
        return self.margin * items / self._rate(job) + self.slack if items else 0.0

    def _cutover_at(self, job: Job, unfinished: int) -> float:
        if self.via == "batch":
            return self._deadline_at
        return self._deadline_at - self.online_seconds(job, unfinished)

    # -- the run -----------------------------------------------------------------------------------
    async def run(self, job: Job, ledger: SqlLedger, emit: Callable[[JobResult], None]) -> None:
        book = BatchLedger(ledger)
        rows = await asyncio.to_thread(book.batches)
        now = self.clock()  # the deadline runs from the first batch still open or made within it, else now
        live = [r.since for r in rows if r.state != "collected" or r.since > now - self.deadline]
        first = min(live, default=now)
        self._deadline_at = first + self.deadline
        known = [str(row.handle["batch_id"]) for row in rows if row.handle]
        open_: dict[int, BatchHandle] = {}
        sizes: dict[int, int] = {}
        for row in rows:
            sizes[row.chunk] = row.size
            if row.state == "submitted" and row.handle:
                open_[row.chunk] = BatchHandle.from_dict(row.handle)
            elif row.state == "intent" and book.abandoned(row):  # a live worker's intent is its own
                items = await asyncio.to_thread(book.chunk_items, row.chunk)
                handle = await self._submit(job, book, row.chunk, items, row.since, known, digest=row.digest)
                if handle is not None:
                    open_[row.chunk] = handle
        pending = await asyncio.to_thread(book.pending)
        if pending and self.clock() < self._cutover_at(job, len(pending)):
            next_chunk = max(sizes, default=-1) + 1
            for chunk in self._chunks(job, pending):
                since = self.clock()
                ids, digest = [request.custom_id for request in chunk], chunk_digest(chunk)
                if not await asyncio.to_thread(book.record_intent, next_chunk, digest, since, ids):
                    break  # another worker is batching this job too: follow its batches below
                handle = await self._submit_requests(book, next_chunk, chunk, since, known)
                if handle is None:
                    break  # the provider takes no more now (enqueued-token limit): the rest goes online
                open_[next_chunk] = handle
                sizes[next_chunk] = len(chunk)
                next_chunk += 1
        for row in await asyncio.to_thread(book.batches):  # other workers' batches too: collecting is shared
            if row.state == "submitted" and row.handle and row.chunk not in open_:
                open_[row.chunk], sizes[row.chunk] = BatchHandle.from_dict(row.handle), row.size
        await self._follow(job, book, open_, sizes, emit)

    def _chunks(self, job: Job, items: list[PendingItem]) -> list[list[BatchRequest]]:
        requests = [self._request(job, item) for item in items]
        try:
            return list(chunk_requests(self.backend, requests, max_tokens=self.max_tokens))
        except ValueError as exc:  # one request alone passes a batch's limits
            raise ConfigurationError(f"cannot batch this job: {exc}") from None

    @staticmethod
    def _request(job: Job, item: PendingItem) -> BatchRequest:
        body = json.loads(item.body)
        if job.schema is not None:
            body = job.schema.prepare(body)
        return BatchRequest(item.custom_id, body, item.url)

    async def _submit(
        self, job: Job, book: BatchLedger, chunk: int, items: list[PendingItem], since: float,
        known: list[str], *, digest: str,
    ) -> BatchHandle | None:  # fmt: skip
        requests = [self._request(job, item) for item in items]
        if not requests or chunk_digest(requests) != digest:  # its items were changed by hand: run online
            await asyncio.to_thread(book.collect, chunk, [])
            return None
        return await self._submit_requests(book, chunk, requests, since, known)

    async def _submit_requests(
        self, book: BatchLedger, chunk: int, requests: list[BatchRequest], since: float, known: list[str]
    ) -> BatchHandle | None:
        tag = ChunkTag(book.job[:400], chunk, chunk_digest(requests))
        try:
            handle = await self.backend.submit(requests, tag, since=since, known=known)
        except RateLimitedError:
            await asyncio.to_thread(book.collect, chunk, [])  # never made: its items go online
            return None
        await asyncio.to_thread(book.record_batch, chunk, handle.to_dict())
        known.append(handle.batch_id)
        self.batches_created += 1
        return handle

    async def _follow(
        self, job: Job, book: BatchLedger, open_: dict[int, BatchHandle], sizes: dict[int, int],
        emit: Callable[[JobResult], None],
    ) -> None:  # fmt: skip
        unfinished = {chunk: sizes.get(chunk, 0) for chunk in open_}
        start, attempt = self.clock(), 0
        planned = float("inf")  # once the loop sleeps until a cutover, it keeps it (no ever-shorter polls)
        while open_:
            for chunk, handle in list(open_.items()):
                try:
                    status = await self.backend.poll(handle)
                except RetryableError:
                    continue
                unfinished[chunk] = status.processing
                if status.ended:
                    await self._collect(job, book, chunk, handle, emit)
                    del open_[chunk], unfinished[chunk]
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

    async def _collect(
        self, job: Job, book: BatchLedger, chunk: int, handle: BatchHandle, emit: Callable[[JobResult], None]
    ) -> None:
        models = {
            item.custom_id: str(json.loads(item.body).get("model", ""))
            for item in await asyncio.to_thread(book.chunk_items, chunk)
        }
        outcomes: list[Outcome] = []
        async for result in self.backend.results(handle):
            if result.custom_id not in models:  # already applied, or not this chunk's
                continue
            outcome = batch_outcome(job.name, result, models[result.custom_id], job.client.prices, job.schema)
            if outcome is not None:
                outcomes.append(outcome)
                self.priced = self.priced or outcome.cost_usd is not None
        await asyncio.to_thread(book.collect, chunk, outcomes)
        for outcome in outcomes:
            progress = job.progress
            progress[outcome.state] += 1
            progress["tokens"] += outcome.prompt_tokens + outcome.completion_tokens
            progress["cost_usd"] += outcome.cost_usd or 0.0
            emit(JobResult.from_line(outcome.custom_id, outcome.state, outcome.result, outcome.cost_usd))
        if outcomes and job.on_progress is not None:
            job.on_progress(job)
