"""Provider Batch APIs (half price, results within 24 hours): the transport a job runner builds on.

- :class:`OpenAIBatchBackend`: OpenAI-compatible ``/v1/files`` + ``/v1/batches``;
- :class:`AnthropicBatchBackend`: Anthropic Message Batches (``pip install 'kagura[anthropic]'``);
- :func:`chunk_requests` (a backend's limits and encoding, a token cap) over :func:`split_into_chunks`
  and :class:`ChunkLimits` (:data:`OPENAI_BATCH_LIMITS`, :data:`ANTHROPIC_BATCH_LIMITS`): cut a job into
  batches the provider accepts;
- :class:`PollSchedule` and :func:`wait_until_ended`: poll with backoff, at most once per 10 s per batch
  after the first minute.

A backend's ``submit(requests, ChunkTag(job_id, chunk_index), since=...)`` is idempotent: with ``since``
(when the caller recorded its intent to submit the chunk) it returns the chunk's batch if one was already
made, so a crash between creating a batch and recording it never submits the chunk twice.
"""

from kagura.core.llm.batches._anthropic import AnthropicBatchBackend
from kagura.core.llm.batches._openai import OpenAIBatchBackend
from kagura.core.llm.batches._types import BatchRequest

# isort: split
# Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
from kagura.core.llm.batches._chunks import (  # noqa: F401
    ANTHROPIC_BATCH_LIMITS,
    OPENAI_BATCH_LIMITS,
    ChunkLimits,
    split_into_chunks,
)
from kagura.core.llm.batches._plan import chunk_requests, estimate_tokens  # noqa: F401
from kagura.core.llm.batches._polling import PollSchedule, wait_until_ended  # noqa: F401
from kagura.core.llm.batches._types import (  # noqa: F401
    BatchBackend,
    BatchHandle,
    BatchItemResult,
    BatchState,
    BatchStatus,
    ChunkTag,
    ItemOutcome,
    chunk_digest,
)

__all__ = [
    "AnthropicBatchBackend",
    "BatchRequest",
    "OpenAIBatchBackend",
]
