"""Anthropic Message Batches (``/v1/messages/batches``) through the official ``anthropic`` SDK (retries off).

Install it with ``pip install 'kagura[anthropic]'``; it is imported on first use. Requests come in the
OpenAI chat shape (:class:`BatchRequest`) and are sent as Messages ``params``; results come back as
OpenAI-shaped chat completions, so a job writes one output format whichever provider ran it.

Anthropic batches carry no ``metadata``, so :meth:`AnthropicBatchBackend.find` cannot read a tag: it
matches a chunk by what the caller recorded before submitting (``since``, the request count) and the batch
ids already recorded for other chunks (``known``). That is exact when a job submits its chunks one at a
time and records each batch before the next intent; another client creating a batch of the same size in
the same account at the same moment could be mistaken for it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from kagura._cancel import keeping_cancel
from kagura._extras import import_optional
from kagura.core.llm._types import Usage
from kagura.core.llm.batches._chunks import ANTHROPIC_BATCH_LIMITS, ChunkLimits
from kagura.core.llm.batches._types import (
    BatchHandle,
    BatchItemResult,
    BatchRequest,
    BatchState,
    BatchStatus,
    ChunkTag,
)
from kagura.core.llm.providers._anthropic import translate_anthropic_error
from kagura.core.llm.providers._anthropic_wire import openai_completion, to_anthropic_params
from kagura.core.llm.providers._errors import check_api_key
from kagura.errors import (
    InvalidRequestError,
    KaguraError,
)

if TYPE_CHECKING:
    import anthropic

__all__ = ["AnthropicBatchBackend"]

T = TypeVar("T")
SKEW = 300.0
_KEY_HINT = "ANTHROPIC_API_KEY or AnthropicBatchBackend(api_key=...)"
_STATUS_OF = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def anthropic_item_result(line: Mapping[str, Any]) -> BatchItemResult:
    """One line of a Message Batch's results as a :class:`BatchItemResult`."""
    custom_id = str(line.get("custom_id", ""))
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        body = openai_completion(result.get("message") or {})
        usage = Usage(body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"])
        return BatchItemResult(custom_id, "succeeded", 200, body, None, usage, line, body.get("id"))
    if kind in ("canceled", "expired"):
        return BatchItemResult(
            custom_id, kind, None, None, {"code": kind, "message": f"request {kind}"}, None, line
        )
    inner = (result.get("error") or {}).get("error") or {}
    error = {"code": inner.get("type", "error"), "message": inner.get("message", "")}
    status = _STATUS_OF.get(str(inner.get("type")), 500)
    return BatchItemResult(custom_id, "errored", status, {"error": error}, error, None, line)


class AnthropicBatchBackend:
    """Message Batches against ``base_url`` (default: Anthropic's API), the SDK's retries off."""

    provider = "anthropic"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        limits: ChunkLimits = ANTHROPIC_BATCH_LIMITS,
        default_max_tokens: int = 1024,
        page_size: int = 100,
    ) -> None:
        check_api_key(api_key, _KEY_HINT)
        self.base_url = base_url
        self.limits = limits
        self.default_max_tokens = default_max_tokens
        self._api_key = api_key
        self._page_size = page_size
        self._client: anthropic.AsyncAnthropic | None = None
        self._mine: set[str] = set()  # batches this backend created or matched: never another chunk's

    def _sdk(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            sdk = import_optional("anthropic", "Anthropic Message Batches")
            self._client = sdk.AsyncAnthropic(api_key=self._api_key, base_url=self.base_url, max_retries=0)
        assert self._client is not None
        return self._client

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        error: KaguraError | None = None
        try:
            return await keeping_cancel(make())
        except Exception as exc:  # the one boundary: SDK errors become kagura errors
            error = translate_anthropic_error(exc, self._api_key)
        raise error

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _entry(self, request: BatchRequest) -> dict[str, Any]:
        if request.url != "/v1/chat/completions":
            raise ValueError(f"Anthropic batches run chat requests only, not {request.url}")
        params = to_anthropic_params(request.body, default_max_tokens=self.default_max_tokens)
        return {"custom_id": request.custom_id, "params": params}

    def encode(self, request: BatchRequest) -> bytes:
        return json.dumps(self._entry(request), separators=(",", ":")).encode()

    def _handle(self, batch: Any, tag: ChunkTag | None) -> BatchHandle:
        counts = batch.request_counts
        total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
        return BatchHandle(self.provider, batch.id, tag, batch.created_at.timestamp(), total)

    async def find(
        self,
        tag: ChunkTag,
        *,
        since: float | None = None,
        request_count: int | None = None,
        known: Collection[str] = (),
    ) -> list[BatchHandle]:
        """Batches created since ``since`` (less the skew) with ``request_count`` requests whose ids are
        not in ``known``, newest first. Without ``since`` and ``request_count`` nothing can be matched: []."""
        if since is None or request_count is None:
            return []
        found: list[BatchHandle] = []
        async for batch in await self._call(lambda: self._sdk().messages.batches.list(limit=self._page_size)):
            if batch.created_at.timestamp() < since - SKEW:
                break
            handle = self._handle(batch, tag)
            if batch.id not in known and handle.request_count == request_count:
                found.append(handle)
        return found

    async def submit(
        self,
        requests: Sequence[BatchRequest],
        tag: ChunkTag,
        *,
        since: float | None = None,
        known: Collection[str] = (),
    ) -> BatchHandle:
        """Create the chunk's message batch; with ``since``, first return the one already made (see
        :meth:`find`). Give ``known``: the batch ids recorded for the job's other chunks (chunks of one
        size are told apart only by it; batches this backend made or matched are excluded as well)."""
        if not requests:
            raise ValueError("submit needs at least one request")
        if len(requests) > self.limits.max_requests:
            raise ValueError(f"{len(requests)} requests: one batch takes at most {self.limits.max_requests}")
        entries = [self._entry(r) for r in requests]
        if since is not None:
            taken = set(known) | self._mine
            existing = await self.find(tag, since=since, request_count=len(requests), known=taken)
            if existing:
                self._mine.add(existing[-1].batch_id)
                return existing[-1]  # the oldest match: the first attempt's
        batch = await self._call(lambda: self._sdk().messages.batches.create(requests=entries))  # type: ignore[arg-type]
        self._mine.add(batch.id)
        return self._handle(batch, tag)

    async def poll(self, handle: BatchHandle) -> BatchStatus:
        return _status(await self._call(lambda: self._sdk().messages.batches.retrieve(handle.batch_id)))

    async def cancel(self, handle: BatchHandle) -> BatchStatus:
        return _status(await self._call(lambda: self._sdk().messages.batches.cancel(handle.batch_id)))

    async def results(self, handle: BatchHandle) -> AsyncIterator[BatchItemResult]:
        """Every request's result, streamed from the batch's results (once it ended)."""
        batch = await self._call(lambda: self._sdk().messages.batches.retrieve(handle.batch_id))
        if batch.processing_status != "ended":
            raise InvalidRequestError(
                f"message batch {handle.batch_id} has not ended ({batch.processing_status})"
            )
        stream = await self._call(lambda: self._sdk().messages.batches.results(handle.batch_id))
        error: KaguraError | None = None
        try:
            async for item in stream:
                yield anthropic_item_result(item.model_dump(mode="json"))
            return
        except Exception as exc:
            error = translate_anthropic_error(exc, self._api_key)
        raise error


def _status(batch: Any) -> BatchStatus:
    c = batch.request_counts
    total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
    phase = batch.processing_status
    state: BatchState = (
        "running" if phase == "in_progress" else "cancelling" if phase == "canceling" else "ended"
    )
    return BatchStatus(
        batch.id, state, phase, total, c.succeeded, c.errored, c.processing, c.canceled, c.expired
    )
