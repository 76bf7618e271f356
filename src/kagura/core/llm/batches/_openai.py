"""The OpenAI-compatible Batch API (OpenAI, Azure, Groq, Together, ...): ``/v1/files`` and ``/v1/batches``.

A chunk is uploaded as a JSONL file (``purpose="batch"``) named after its tag, then a batch is created
with the tag in its ``metadata``. :meth:`OpenAIBatchBackend.submit` given ``since`` (when the caller first
recorded its intent to submit the chunk) is idempotent: it first lists the batches created since then and
returns the chunk's batch if one exists, and re-uses an already uploaded input file of the same name and
size. SDK errors become ``kagura.errors`` in :func:`~kagura.core.llm.translate_openai_error`.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from kagura._cancel import keeping_cancel
from kagura.core.llm.batches._chunks import OPENAI_BATCH_LIMITS, ChunkLimits
from kagura.core.llm.batches._openai_wire import failure_error, openai_item_result, status_of
from kagura.core.llm.batches._types import (
    BatchHandle,
    BatchItemResult,
    BatchRequest,
    BatchStatus,
    ChunkTag,
    chunk_digest,
)
from kagura.core.llm.providers._errors import check_api_key
from kagura.core.llm.providers._openai import translate_openai_error
from kagura.errors import AuthenticationError, InvalidRequestError, KaguraError

if TYPE_CHECKING:
    import openai

__all__ = ["OpenAIBatchBackend"]

T = TypeVar("T")
#: seconds of clock skew allowed between the caller's ``since`` and the server's ``created_at``
SKEW = 300.0


class OpenAIBatchBackend:
    """Batches against an OpenAI-compatible endpoint (``base_url`` ends in ``/v1``; default OpenAI's), the
    SDK's retries off. ``api_key`` defaults to ``KAGURA_LLM_API_KEY`` then ``OPENAI_API_KEY`` (a local
    server needs none)."""

    provider = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        limits: ChunkLimits = OPENAI_BATCH_LIMITS,
        completion_window: str = "24h",
        page_size: int = 100,
    ) -> None:
        api_key = api_key or os.environ.get("KAGURA_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None and base_url is None:
            raise AuthenticationError(
                "no API key for the OpenAI Batch API: set KAGURA_LLM_API_KEY (or OPENAI_API_KEY), pass "
                "api_key=..., or point base_url at an OpenAI-compatible server"
            )
        check_api_key(api_key, "api_key / KAGURA_LLM_API_KEY / OPENAI_API_KEY")
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be between 1 and 100 (OpenAI's list limit)")
        self.base_url = base_url
        self.limits = limits
        self.completion_window = completion_window
        self._api_key = api_key
        self._page_size = page_size
        self._client: openai.AsyncOpenAI | None = None

    def _sdk(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(
                api_key=self._api_key or "not-needed", base_url=self.base_url, max_retries=0
            )
        return self._client

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        error: KaguraError | None = None
        try:
            return await keeping_cancel(make())
        except Exception as exc:  # the one boundary: SDK errors become kagura errors
            error = translate_openai_error(exc, self._api_key)
        raise error

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    # -- submit ---------------------------------------------------------------------------------------
    def encode(self, request: BatchRequest) -> bytes:
        line = {
            "custom_id": request.custom_id,
            "method": "POST",
            "url": request.url,
            "body": dict(request.body),
        }
        return json.dumps(line, separators=(",", ":")).encode()

    @staticmethod
    def file_name(tag: ChunkTag) -> str:
        return f"kagura-{tag.job_id}-{tag.chunk_index}-{tag.digest or 'x'}.jsonl"

    def _handle(self, batch: Any) -> BatchHandle:
        counts = batch.request_counts
        total = counts.total if counts is not None else None
        return BatchHandle(
            self.provider, batch.id, ChunkTag.from_metadata(batch.metadata), float(batch.created_at), total
        )

    async def find(
        self,
        tag: ChunkTag,
        *,
        since: float | None = None,
        request_count: int | None = None,
        known: Collection[str] = (),
    ) -> list[BatchHandle]:
        """The batches tagged with ``tag``'s job and chunk, newest first, except failed ones (they never
        ran). Lists page by page (``after``), stopping at batches older than ``since`` (less the skew)."""
        found: list[BatchHandle] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self._page_size, **({"after": after} if after else {})}
            page = await self._call(partial(self._sdk().batches.list, **kwargs))
            for batch in page.data:
                if since is not None and batch.created_at < since - SKEW:
                    return found
                mine = ChunkTag.from_metadata(batch.metadata)
                if mine is None or (mine.job_id, mine.chunk_index) != (tag.job_id, tag.chunk_index):
                    continue
                if batch.status != "failed":
                    found.append(self._handle(batch))
            if not page.has_more or not page.data:
                return found
            after = page.data[-1].id

    async def _uploaded(self, name: str, size: int, since: float) -> str | None:
        """The id of an input file called ``name`` of ``size`` bytes uploaded since ``since``, if any."""
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "purpose": "batch",
                "limit": self._page_size,
                **({"after": after} if after else {}),
            }
            page = await self._call(partial(self._sdk().files.list, **kwargs))
            for file in page.data:
                if file.created_at < since - SKEW:
                    return None
                if file.filename == name and file.bytes == size:
                    return file.id
            if not page.has_more or not page.data:
                return None
            after = page.data[-1].id

    async def submit(
        self,
        requests: Sequence[BatchRequest],
        tag: ChunkTag,
        *,
        since: float | None = None,
        known: Collection[str] = (),
    ) -> BatchHandle:
        """Upload ``requests`` and create their batch, tagged ``tag`` (its digest filled in when empty).

        With ``since`` (unix seconds, recorded before the first attempt), a batch already made for this
        chunk is returned instead of a new one; one made from other requests raises
        :class:`~kagura.errors.InvalidRequestError`. Over the enqueued-token limit:
        :class:`~kagura.errors.RateLimitedError` (try again once earlier batches finish).
        """
        if not requests:
            raise ValueError("submit needs at least one request")
        if len(requests) > self.limits.max_requests:
            raise ValueError(f"{len(requests)} requests: one batch takes at most {self.limits.max_requests}")
        digest = chunk_digest(requests)
        if tag.digest and tag.digest != digest:
            raise ValueError("tag.digest does not match these requests (use chunk_digest(requests))")
        tag = ChunkTag(tag.job_id, tag.chunk_index, digest)
        if since is not None:
            for existing in await self.find(tag, since=since):
                if existing.tag is not None and existing.tag.digest not in ("", digest):
                    raise InvalidRequestError(
                        f"chunk {tag.chunk_index} of job {tag.job_id!r} was already submitted with other "
                        f"requests (batch {existing.batch_id}): the job's input changed"
                    )
                return existing
        data = b"\n".join(self.encode(r) for r in requests) + b"\n"
        if len(data) > self.limits.max_bytes:
            raise ValueError(
                f"the chunk takes {len(data)} bytes: one batch takes at most {self.limits.max_bytes}"
            )
        name = self.file_name(tag)
        file_id = await self._uploaded(name, len(data), since) if since is not None else None
        if file_id is None:
            file = await self._call(lambda: self._sdk().files.create(file=(name, data), purpose="batch"))
            file_id = file.id
        endpoint = requests[0].url
        batch = await self._call(
            lambda: self._sdk().batches.create(
                input_file_id=file_id,
                endpoint=endpoint,  # type: ignore[arg-type]
                completion_window=self.completion_window,  # type: ignore[arg-type]
                metadata=tag.metadata(),
            )
        )
        if batch.status == "failed":
            raise failure_error(batch)
        return self._handle(batch)

    # -- follow ---------------------------------------------------------------------------------------
    async def poll(self, handle: BatchHandle) -> BatchStatus:
        batch = await self._call(lambda: self._sdk().batches.retrieve(handle.batch_id))
        return status_of(batch)

    async def cancel(self, handle: BatchHandle) -> BatchStatus:
        batch = await self._call(lambda: self._sdk().batches.cancel(handle.batch_id))
        return status_of(batch)

    async def results(self, handle: BatchHandle) -> AsyncIterator[BatchItemResult]:
        """Every line of the batch's output file, then of its error file (once it ended), streamed."""
        batch = await self._call(lambda: self._sdk().batches.retrieve(handle.batch_id))
        if batch.status not in ("completed", "expired", "cancelled", "failed"):
            raise InvalidRequestError(f"batch {handle.batch_id} has not ended (status {batch.status})")
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            async for line in self._lines(file_id):
                yield openai_item_result(line)

    async def _lines(self, file_id: str) -> AsyncIterator[dict[str, Any]]:
        error: KaguraError | None = None
        try:
            async with self._sdk().files.with_streaming_response.content(file_id) as response:
                async for text in response.iter_lines():
                    if text.strip():
                        yield json.loads(text)
            return
        except ValueError as exc:
            error = InvalidRequestError(f"file {file_id} has a line that is not JSON: {exc}")
        except Exception as exc:
            error = translate_openai_error(exc, self._api_key)
        raise error
