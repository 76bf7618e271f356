"""What every batch backend speaks: requests and chunk tags in, handles, statuses and item results out."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kagura.core.llm._types import Usage
from kagura.core.llm.batches._chunks import ChunkLimits

__all__ = [
    "BatchBackend",
    "BatchHandle",
    "BatchItemResult",
    "BatchRequest",
    "BatchState",
    "BatchStatus",
    "ChunkTag",
    "ItemOutcome",
    "chunk_digest",
]

ItemOutcome = Literal["succeeded", "errored", "canceled", "expired"]
BatchState = Literal["running", "cancelling", "ended"]
_PREFIX = "kagura_"


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch: its ``custom_id`` and its OpenAI-style ``body`` (chat: model, messages...)."""

    custom_id: str
    body: Mapping[str, Any]
    url: str = "/v1/chat/completions"

    def __post_init__(self) -> None:
        if not isinstance(self.custom_id, str) or not self.custom_id:
            raise ValueError("BatchRequest.custom_id must be a non-empty string")
        if not isinstance(self.body, Mapping):
            raise TypeError("BatchRequest.body must be a mapping (the request's JSON body)")


def chunk_digest(requests: Sequence[BatchRequest]) -> str:
    """A short hash of a chunk's custom_ids, in order: tells a resumed chunk from a different one."""
    sha = hashlib.sha256()
    for request in requests:
        sha.update(request.custom_id.encode())
        sha.update(b"\n")
    return sha.hexdigest()[:16]


@dataclass(frozen=True)
class ChunkTag:
    """Which job and chunk a batch belongs to; written into the batch's ``metadata`` where the API has it."""

    job_id: str
    chunk_index: int
    digest: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.job_id, str) or not 0 < len(self.job_id) <= 400:
            raise ValueError("ChunkTag.job_id must be a string of 1 to 400 characters")
        if not isinstance(self.chunk_index, int) or self.chunk_index < 0:
            raise ValueError("ChunkTag.chunk_index must be an int >= 0")

    def metadata(self) -> dict[str, str]:
        """The ``metadata`` pairs that tag a batch (OpenAI allows 16 pairs of 64/512 characters)."""
        return {
            f"{_PREFIX}job": self.job_id,
            f"{_PREFIX}chunk": str(self.chunk_index),
            f"{_PREFIX}digest": self.digest,
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str] | None) -> ChunkTag | None:
        """The tag written by :meth:`metadata`, or ``None`` when ``metadata`` carries none."""
        if not metadata or f"{_PREFIX}job" not in metadata:
            return None
        try:
            index = int(metadata.get(f"{_PREFIX}chunk", ""))
            return cls(metadata[f"{_PREFIX}job"], index, metadata.get(f"{_PREFIX}digest", ""))
        except ValueError:
            return None


@dataclass(frozen=True)
class BatchHandle:
    """A submitted batch: enough to poll it, read its results and cancel it (store it in the ledger)."""

    provider: str
    batch_id: str
    tag: ChunkTag | None = None
    created_at: float = 0.0
    request_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for a ledger column; :meth:`from_dict` reads it back."""
        tag = None if self.tag is None else [self.tag.job_id, self.tag.chunk_index, self.tag.digest]
        return {
            "provider": self.provider,
            "batch_id": self.batch_id,
            "tag": tag,
            "created_at": self.created_at,
            "request_count": self.request_count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchHandle:
        try:
            tag = None if data.get("tag") is None else ChunkTag(*data["tag"])
            return cls(
                str(data["provider"]),
                str(data["batch_id"]),
                tag,
                float(data.get("created_at") or 0.0),
                data.get("request_count"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a BatchHandle.to_dict() form: {exc}") from None


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch stands. ``state`` is ``running``, ``cancelling`` or ``ended`` (results can be read).

    ``provider_status`` is the provider's own word (OpenAI ``validating``... ``expired``; Anthropic
    ``in_progress``, ``canceling``, ``ended``). ``failure`` explains a batch that failed as a whole
    (OpenAI ``status == "failed"``: the input did not validate, or the enqueued-token limit was passed).
    """

    batch_id: str
    state: BatchState
    provider_status: str
    total: int = 0
    succeeded: int = 0
    errored: int = 0
    processing: int = 0
    canceled: int = 0
    expired: int = 0
    failure: str | None = None

    @property
    def ended(self) -> bool:
        return self.state == "ended"


@dataclass(frozen=True)
class BatchItemResult:
    """One request's outcome. ``body`` is an OpenAI-shaped response body (a chat completion) when it
    succeeded, the error body when the provider answered one; ``error`` is ``{"code", "message"}`` when
    there is no response (expired, canceled, a failed line). ``usage`` is the tokens it was billed."""

    custom_id: str
    outcome: ItemOutcome
    status_code: int | None = None
    body: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    usage: Usage | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"

    @property
    def response(self) -> dict[str, Any] | None:
        """The ``response`` of an OpenAI batch output line (``status_code``, ``request_id``, ``body``), or
        ``None`` when the request got no answer (expired, canceled)."""
        if self.status_code is None:
            return None
        return {"status_code": self.status_code, "request_id": self.request_id, "body": self.body}


class BatchBackend(Protocol):
    """A provider's Batch API. Every method translates failures into ``kagura.errors`` (retryable or not).

    ``submit`` is idempotent given ``since`` (see the backends); ``find`` lists the batches already made
    for a chunk, so a resumed job never submits a chunk twice.
    """

    provider: str
    limits: ChunkLimits

    def encode(self, request: BatchRequest) -> bytes:
        """The request as this provider uploads it (its size counts against ``limits.max_bytes``)."""
        ...

    async def submit(
        self,
        requests: Sequence[BatchRequest],
        tag: ChunkTag,
        *,
        since: float | None = None,
        known: Collection[str] = (),
    ) -> BatchHandle: ...

    async def find(
        self,
        tag: ChunkTag,
        *,
        since: float | None = None,
        request_count: int | None = None,
        known: Collection[str] = (),
    ) -> list[BatchHandle]: ...

    async def poll(self, handle: BatchHandle) -> BatchStatus: ...

    def results(self, handle: BatchHandle) -> AsyncIterator[BatchItemResult]: ...

    async def cancel(self, handle: BatchHandle) -> BatchStatus: ...

    async def aclose(self) -> None: ...
