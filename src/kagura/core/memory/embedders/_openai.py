"""``OpenAIEmbedder``: ``POST /v1/embeddings`` on any OpenAI-compatible server via the official SDK.

The SDK's own retries are off (``max_retries=0``). Texts go out in batches of ``batch_size`` through the
scheduler (:func:`kagura.core.parallel.parallel_map`): up to ``max_concurrent`` batches at a time, each
attempt admitted by the endpoint's budget (``requests_per_minute``/``tokens_per_minute``, or a shared
``limiter``), retryable errors (429 honouring ``Retry-After``, 5xx, timeouts, dropped connections) retried;
rows come back in input order, L2-normalised (some servers do not normalise). ``aembed`` is the
implementation; ``embed`` runs it on a private event loop, so call ``embed`` from threads without a
running loop.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kagura._redact import redact_url
from kagura.core.llm import translate_openai_error
from kagura.core.memory.embedders._base import check_texts
from kagura.core.parallel import RateLimiter, RetryPolicy, parallel_map
from kagura.errors import (
    ConfigurationError,
    MalformedResponseError,
    UsageError,
)

if TYPE_CHECKING:
    import openai

__all__ = ["KNOWN_DIMENSIONS", "OpenAIEmbedder"]

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint.

    ``base_url`` and ``api_key`` default to ``KAGURA_LLM_BASE_URL`` and ``KAGURA_LLM_API_KEY`` (then
    ``OPENAI_API_KEY``). ``dimensions`` is sent to the server when given (text-embedding-3 models can
    shorten vectors). ``dimension`` is fixed by ``dimensions`` when set; otherwise it is learnt from the
    first answer, whatever the model's name (see :attr:`dimension`).
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        max_concurrent: int = 4,
        timeout: float = 60.0,
        max_attempts: int = 3,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not model:
            raise ValueError("model must be a non-empty embedding model name")
        if batch_size < 1 or max_concurrent < 1:
            raise ValueError("batch_size and max_concurrent must be >= 1")
        if dimensions is not None and dimensions < 1:
            raise ValueError("dimensions must be >= 1 or None")
        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self.model = model
        self.base_url = base_url or os.environ.get("KAGURA_LLM_BASE_URL") or None
        self._api_key = api_key or os.environ.get("KAGURA_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if self._api_key is None and self.base_url is None:
            raise ConfigurationError(
                "OpenAIEmbedder needs an API key (api_key=, KAGURA_LLM_API_KEY or OPENAI_API_KEY) "
                "or a base_url= / KAGURA_LLM_BASE_URL of a local OpenAI-compatible server"
            )
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_concurrent = max_concurrent
        self.timeout = timeout
        self.retry = RetryPolicy(max_attempts=max_attempts)
        if limiter is not None and (requests_per_minute is not None or tokens_per_minute is not None):
            raise ValueError("pass either limiter= or requests_per_minute=/tokens_per_minute=, not both")
        if limiter is None and (requests_per_minute is not None or tokens_per_minute is not None):
            limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.limiter = limiter
        # Learnt from the first answer unless asked for: a server may serve any model under a known name
        # (a local server calling its model "text-embedding-3-small"), so a name never fixes the length.
        self._dimension: int | None = dimensions
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def name(self) -> str:
        """The embedding model's name."""
        return self.model

    @property
    def dimension(self) -> int:
        """Vector length: ``dimensions=`` when given, else learnt from the first answer. Before any answer,
        OpenAI's published length for its own model names (:data:`KNOWN_DIMENSIONS`), which the first
        answer may still correct (another server serving a model under that name).

        Otherwise, when still unknown, outside an event loop this makes one blocking probe request; inside
        one it raises ``UsageError`` (pass ``dimensions=``, or ``await aembed(...)`` first).
        """
        if self._dimension is None and self.model in KNOWN_DIMENSIONS:
            return KNOWN_DIMENSIONS[self.model]
        if self._dimension is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                self.embed(["dimension probe"])
            else:
                raise UsageError(
                    f"the vector length of {self.model!r} is not known yet: pass dimensions= to "
                    "OpenAIEmbedder, or `await aembed([...])` once before reading .dimension"
                )
        assert self._dimension is not None
        return self._dimension

    def _client(self) -> openai.AsyncOpenAI:
        import openai

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=self._api_key or "not-needed",
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout,
            )
            self._clients[loop] = client
        return client

    async def _request(self, texts: list[str]) -> npt.NDArray[np.float32]:
        extra: dict[str, Any] = {} if self.dimensions is None else {"dimensions": self.dimensions}
        try:
            response = await self._client().embeddings.create(
                model=self.model, input=texts, encoding_format="float", **extra
            )
        except Exception as exc:
            import openai

            if isinstance(exc, openai.OpenAIError):
                raise translate_openai_error(exc, self._api_key) from exc
            raise
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts) or [d.index for d in rows] != list(range(len(texts))):
            raise MalformedResponseError(f"asked for {len(texts)} embeddings, the server sent {len(rows)}")
        try:
            matrix = np.asarray([d.embedding for d in rows], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise MalformedResponseError(f"embeddings are not equal-length float lists: {exc}") from exc
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise MalformedResponseError(f"embeddings have an unusable shape {matrix.shape}")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.maximum(norms, np.float32(1e-12))

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into ``(n, dimension)`` float32 unit rows, batched and retried."""
        items = [t if t else " " for t in check_texts(texts)]  # the OpenAI API rejects empty strings
        if not items:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        parts = await parallel_map(
            self._request,
            batches,
            self.max_concurrent,
            retry=self.retry,
            limiters=() if self.limiter is None else (self.limiter,),
            cost=_estimated_tokens,
        )
        if len({p.shape[1] for p in parts}) != 1:
            raise MalformedResponseError("the server returned vectors of different lengths")
        matrix = np.concatenate(parts)
        if self._dimension is None:
            self._dimension = int(matrix.shape[1])
        elif matrix.shape[1] != self._dimension:
            raise MalformedResponseError(
                f"expected {self._dimension}-dim vectors from {self.model!r}, got {matrix.shape[1]}"
            )
        return matrix

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Blocking :meth:`aembed` on a private event loop; from async code use ``await aembed(...)``."""
        items = check_texts(texts)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._embed_and_close(items))
        raise UsageError(
            "OpenAIEmbedder.embed() blocks and cannot run inside an event loop: use `await aembed(texts)` "
            "or call embed() from a worker thread (asyncio.to_thread)"
        )

    async def _embed_and_close(self, items: list[str]) -> npt.NDArray[np.float32]:
        try:
            return await self.aembed(items)
        finally:
            client = self._clients.pop(asyncio.get_running_loop(), None)
            if client is not None:
                await client.close()

    def __repr__(self) -> str:
        base_url = redact_url(self.base_url) if self.base_url else self.base_url
        return f"OpenAIEmbedder(model={self.model!r}, base_url={base_url!r})"


def _estimated_tokens(batch: list[str]) -> int:
    """Tokens a batch spends, for a tokens-per-minute budget: about four characters per token."""
    return sum(len(text) // 4 + 1 for text in batch)
