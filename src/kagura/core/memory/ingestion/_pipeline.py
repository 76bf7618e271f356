"""One ingestion run over the scanned files of a root: three stages connected by queues.

1. **local** (``max_concurrent`` workers via ``parallel_stream``): hash, manifest check, extract, chunk.
2. **describe** (``max_concurrent`` workers via ``parallel_stream``, fed by stage 1): one LLM call per
   media file, retried by the scheduler. Local work never occupies an LLM slot, so with enough media the
   LLM stays exactly ``max_concurrent`` calls busy.
3. **write** (one task): embeds chunks in batches across files (off the loop), then stores each file in
   its own transaction. On cancel it finishes the file being written, so nothing is half-indexed. A batch
   the embedder refuses is embedded again file by file, so one bad file never fails its neighbours.
   Chunks whose hash (embedder id + embedded text) is already stored reuse that vector: an edited file
   embeds only its changed chunks.

Memory stays flat whatever the corpus size: the queues between the stages are bounded, and
``parallel_stream`` holds at most ``max_concurrent`` finished files, so a slow embedder slows extraction
down instead of letting prepared files pile up.

A file that fails keeps whatever was indexed for it before (``stale`` lists only files skipped by a rule,
whose old document no longer matches anything to index); only files gone from the tree are pruned.

Every file is settled exactly once (reported and counted for progress), on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import numpy as np

from kagura.core.memory._report import FailedFile, IngestReport, SkippedPath
from kagura.core.memory.embedders import Embedder
from kagura.core.memory.embedders._base import embedder_id
from kagura.core.memory.ingestion._prepare import (
    FilePreparer,
    NeedsDescription,
    Prepared,
    Unchanged,
)
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol
from kagura.core.memory.stores._rows import NewDocument
from kagura.core.parallel import parallel_stream
from kagura.errors import InternalError
from kagura.loaders import ScannedFile, display_name

__all__ = ["DocumentStore", "IngestRun", "Progress", "ProgressCallback", "Result", "Sink"]

ProgressCallback = Callable[[int, "int | None", int], Any]
QUEUE_FILES = 16
"""Files waiting between two stages at most (the backpressure that keeps an ingest's memory flat)."""
Result = Unchanged | FailedFile | SkippedPath | Prepared
Sink = Callable[[list[Prepared], np.ndarray], Awaitable[None]]
"""Where the write stage hands embedded files: ``(files, their stacked vectors)``, awaited."""


class DocumentStore(Protocol):
    """What a run needs from a store: stored vectors by chunk hash, and one transaction per file."""

    def vectors_for_hashes(self, hashes: list[str]) -> dict[str, np.ndarray]: ...

    def replace_document(self, doc: NewDocument, vectors: np.ndarray, embedder: str) -> int: ...


class Progress:
    """Counts settled files and forwards ``(done, total, failed)`` to the user's callback."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        self.failed = 0

    def tick(self, *, failed: bool = False) -> None:
        self.done += 1
        self.failed += int(failed)
        if self.callback is not None:
            self.callback(self.done, self.total, self.failed)


class IngestRun:
    """The stages of one ``load_directory`` call; ``stale`` lists paths whose old document must go (files
    now skipped as empty); a failed file is never stale: its previous version stays indexed."""

    def __init__(
        self,
        *,
        store: DocumentStore,
        embedder: Embedder,
        preparer: FilePreparer,
        report: IngestReport,
        progress: Progress,
        embed_batch_size: int,
        sink: Sink | None = None,
        claims: DescriptionClaimsProtocol | None = None,
    ) -> None:
        """``sink``: where embedded files go; by default :meth:`store_and_report` (a Ray worker sends
        them back to the driver instead, which stores and reports them with the same method)."""
        self.store = store
        self.sink: Sink = sink or self.store_and_report
        self.claims = claims
        self.embedder = embedder
        self.preparer = preparer
        self.report = report
        self.progress = progress
        self.embed_batch_size = embed_batch_size
        self.embedder_id = embedder_id(embedder)
        self.stale: list[str] = []
        self._to_describe: asyncio.Queue[NeedsDescription | None] = asyncio.Queue(QUEUE_FILES)
        self._to_write: asyncio.Queue[Prepared | None] = asyncio.Queue(QUEUE_FILES)
        self._consumers: dict[int, asyncio.Task[None]] = {}

    async def run(self, files: Sequence[ScannedFile], max_concurrent: int) -> None:
        describer = asyncio.create_task(self._describe_stage(max_concurrent))
        writer = asyncio.create_task(self._write_stage())
        self._consumers = {id(self._to_describe): describer, id(self._to_write): writer}
        try:
            async with parallel_stream(
                self.preparer.local, files, max_concurrent=max_concurrent, return_exceptions=True
            ) as outcomes:
                async for outcome in outcomes:
                    result = outcome.value
                    if outcome.error is not None:  # not expected: the preparer reports its own errors
                        path = display_name(self.preparer.root / files[outcome.index].relpath)
                        result = FailedFile(path, f"{type(outcome.error).__name__}: {outcome.error}")
                    if isinstance(result, NeedsDescription):
                        await self._put(self._to_describe, result)
                    elif result is not None:
                        await self._forward(result)
            await self._put(self._to_describe, None)
            await describer
            await self._put(self._to_write, None)
            await writer
        finally:
            for task in (describer, writer):
                if not task.done():
                    task.cancel()
            await asyncio.gather(describer, writer, return_exceptions=True)

    async def _put(self, queue: asyncio.Queue[Any], item: Any) -> None:
        """Wait for room in a bounded stage queue; if the stage reading it has ended (it failed), raise
        its error instead of waiting forever."""
        if not queue.full():  # no wait, no yield to the loop: batches form as they did unbounded
            queue.put_nowait(item)
            return
        consumer = self._consumers[id(queue)]
        put = asyncio.ensure_future(queue.put(item))
        try:
            await asyncio.wait({put, consumer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not put.done():
                put.cancel()
        if not put.done() or put.cancelled():
            consumer.result()  # raises the stage's error (or CancelledError)
            raise InternalError("an ingestion stage ended before its input did")

    async def _forward(self, result: Result) -> None:
        """Prepared files go to the writer (waiting while its queue is full); the rest are settled."""
        if isinstance(result, Prepared):
            await self._put(self._to_write, result)
        else:
            self.settle(result)

    def settle(self, result: Unchanged | FailedFile | SkippedPath) -> None:
        """Report a file that needs no more work."""
        report = self.report
        if isinstance(result, Unchanged):
            report.unchanged.append(result.path)
            report.cache_hits += 1
            if result.model_changed:
                report.model_changed.append(result.path)
        elif isinstance(result, FailedFile):
            report.failed.append(result)
        else:
            report.skipped.append(result)
            self.stale.append(result.path)
        self.progress.tick(failed=isinstance(result, FailedFile))

    async def _pending(self) -> AsyncIterator[NeedsDescription]:
        while (job := await self._to_describe.get()) is not None:
            yield job

    async def _describe_stage(self, max_concurrent: int) -> None:
        async with parallel_stream(
            self.preparer.describe, self._pending(), max_concurrent=max_concurrent, return_exceptions=True
        ) as outcomes:
            async for outcome in outcomes:
                if outcome.error is not None or outcome.value is None:
                    continue  # describe() turns every error into a FailedFile; nothing else can come here
                await self._forward(outcome.value)

    async def _write_stage(self) -> None:
        """Embed prepared files in batches across files, then store each file in its own transaction."""
        loop = asyncio.get_running_loop()
        timings = self.report.timings
        finished = False
        while not finished:
            item = await self._to_write.get()
            if item is None:
                return
            batch, size = [item], len(item.embed_texts)
            while size < self.embed_batch_size and not self._to_write.empty():
                nxt = self._to_write.get_nowait()
                if nxt is None:
                    finished = True
                    break
                batch.append(nxt)
                size += len(nxt.embed_texts)
            started = loop.time()
            batch, vectors = await self._embed(batch)
            timings["embed"] = timings.get("embed", 0.0) + loop.time() - started
            if not batch:
                continue
            await self.sink(batch, vectors)

    async def store_and_report(self, batch: list[Prepared], vectors: np.ndarray) -> None:
        """Store each embedded file in its own transaction, then report and settle it."""
        loop = asyncio.get_running_loop()
        timings = self.report.timings
        started = loop.time()
        errors = await self._store_quietly(batch, vectors)
        timings["store"] = timings.get("store", 0.0) + loop.time() - started
        self._settle_stored(batch, errors)

    def _settle_stored(self, batch: list[Prepared], errors: list[str | None]) -> None:
        """Report and settle the files of ``batch`` the store was asked to write (``errors``: one per file
        written, in order; a cancelled batch stops early, and only what it wrote is reported)."""
        for p, error in zip(batch, errors, strict=False):
            if error is not None:
                self.settle(FailedFile(p.doc.path, f"store write failed: {error}"))
                continue
            self.report.chunks_added += len(p.embed_texts)
            if p.failure is not None:
                self.report.failed.append(FailedFile(p.doc.path, p.failure))
            else:
                self.report.indexed.append(p.doc.path)
            if p.not_described:
                self.report.not_described.append(p.doc.path)
            self.progress.tick(failed=p.failure is not None)

    async def _embed(self, batch: list[Prepared]) -> tuple[list[Prepared], np.ndarray]:
        """Embed a batch across files; if the embedder refuses it, embed file by file and report only the
        files that fail alone. Returns the files embedded and their stacked vectors."""
        try:
            return batch, await self._vectors(batch)
        except Exception as exc:
            if len(batch) == 1:
                self.settle(FailedFile(batch[0].doc.path, f"embedding failed: {type(exc).__name__}: {exc}"))
                return [], np.zeros((0, 0), dtype=np.float32)
        kept: list[Prepared] = []
        parts: list[np.ndarray] = []
        for p in batch:
            done, vectors = await self._embed([p])
            if done:
                kept.append(p)
                parts.append(vectors)
        return kept, (np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32))

    async def _vectors(self, batch: list[Prepared]) -> np.ndarray:
        """The batch's vectors, stacked: stored ones found by chunk hash, the others embedded (once each)."""
        texts = [t for p in batch for t in p.embed_texts]
        hashes = [h for p in batch for h in p.doc.chunk_hashes]
        known = (
            await asyncio.to_thread(self.store.vectors_for_hashes, hashes)
            if len(hashes) == len(texts)
            else {}
        )
        todo: dict[str, str] = {}  # hash (or the text itself when there is none) -> text to embed
        keys = hashes if len(hashes) == len(texts) else texts
        for key, text in zip(keys, texts, strict=True):
            if key not in known:
                todo.setdefault(key, text)
        if todo:
            fresh = np.asarray(await self.embedder.aembed(list(todo.values())), dtype=np.float32)
            known.update(zip(todo, fresh, strict=True))
        self.report.chunks_embedded += len(todo)
        self.report.chunks_reused += len(texts) - len(todo)
        return np.stack([known[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    async def _store_quietly(self, batch: list[Prepared], vectors: np.ndarray) -> list[str | None]:
        """Store the batch in a thread; on cancel, stop after the file being written and wait for it,
        so when a cancelled run returns no write is still going on behind it, and the files the batch
        committed before it stopped are in the report (an interrupted run counts what the store holds)."""
        stop = threading.Event()
        future = asyncio.ensure_future(asyncio.to_thread(self._store_batch, batch, vectors, stop))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            stop.set()
            (written,) = await asyncio.gather(future, return_exceptions=True)
            if isinstance(written, list):
                self._settle_stored(batch, written)
            raise

    def _store_batch(
        self, batch: list[Prepared], vectors: np.ndarray, stop: threading.Event
    ) -> list[str | None]:
        """Write each file in its own transaction; per file, ``None`` or the error text."""
        errors: list[str | None] = []
        offset = 0
        for p in batch:
            if stop.is_set():
                break
            n = len(p.embed_texts)
            try:
                self.store.replace_document(p.doc, vectors[offset : offset + n], self.embedder_id)
                errors.append(None)
            except Exception as exc:  # a write failure is reported for this file; the others go on
                errors.append(f"{type(exc).__name__}: {exc}")
            offset += n
            if p.claimed and self.claims is not None:
                try:
                    self.claims.release(p.doc.path)
                except Exception:
                    pass
        return errors
