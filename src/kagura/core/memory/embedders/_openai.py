"""``OpenAIEmbedder``: ``POST /v1/embeddings`` on any OpenAI-compatible server, through an ``LLMClient``.

Every request goes through one :class:`~kagura.core.llm.LLMClient` (``client=``, or one made here from
the arguments, with the environment read once by :class:`~kagura.core.llm.LLMConfig`): the same SDK path,
budget, retries and spend cap as chat calls. Texts go out in batches of ``batch_size`` through the
scheduler (:func:`kagura.core.parallel.parallel_map`): up to ``max_concurrent`` batches at a time, each
attempt admitted by the client's budget (``requests_per_minute``/``tokens_per_minute``, or a shared
``limiter``), retryable errors (429 honouring ``Retry-After``, 5xx, timeouts, dropped connections) retried;
rows come back in input order, L2-normalised (some servers do not normalise). ``aembed`` is the
implementation; ``embed`` runs it on a private event loop, so call ``embed`` from threads without a
running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kagura._redact import redact_url
from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.memory.embedders._base import check_texts
from kagura.core.parallel import RateLimiter, parallel_map
from kagura.errors import ConfigurationError, InvalidRequestError, MalformedResponseError, UsageError

__all__ = ["KNOWN_DIMENSIONS", "OpenAIEmbedder"]

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint.

    ``base_url`` and ``api_key`` default to ``KAGURA_LLM_BASE_URL`` and ``KAGURA_LLM_API_KEY`` (then
    ``OPENAI_API_KEY``). ``client``: the :class:`~kagura.core.llm.LLMClient` to call through instead (its
    endpoint, key, timeout, retries and budget; the embedder then leaves it open). ``dimensions`` is sent
    to the server when given (text-embedding-3 models can shorten vectors). ``dimension`` is fixed by
    ``dimensions`` when set; otherwise it is learnt from the first answer, whatever the model's name (see
    :attr:`dimension`).
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
        client: LLMClient | None = None,
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
        if limiter is not None and (requests_per_minute is not None or tokens_per_minute is not None):
            raise ValueError("pass either limiter= or requests_per_minute=/tokens_per_minute=, not both")
        if limiter is None and (requests_per_minute is not None or tokens_per_minute is not None):
            limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self._owns_client = client is None
        if client is None:
            config = LLMConfig(
                model=model, base_url=base_url, api_key=api_key, provider="openai", timeout=timeout,
                max_attempts=max_attempts, adaptive=False, redis_url="",
            )  # fmt: skip
            if config.api_key is None and config.base_url is None:
                raise ConfigurationError(
                    "OpenAIEmbedder needs an API key (api_key=, KAGURA_LLM_API_KEY or OPENAI_API_KEY) "
                    "or a base_url= / KAGURA_LLM_BASE_URL of a local OpenAI-compatible server"
                )
            client = LLMClient(config, limiter=limiter)
        elif not isinstance(client, LLMClient):
            raise TypeError(f"client must be an LLMClient or None, got {type(client).__name__}")
        self.client = client
        self.base_url = client.config.base_url
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_concurrent = max_concurrent
        self.timeout = timeout
        self.limiter = limiter
        # Learnt from the first answer unless asked for: a server may serve any model under a known name
        # (a local server calling its model "text-embedding-3-small"), so a name never fixes the length.
        self._dimension: int | None = dimensions

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

    async def _request(self, texts: list[str]) -> npt.NDArray[np.float32]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        response = await self.client.send("/embeddings", body, estimate=_estimated_tokens(texts))
        if not response.ok:
            detail = response.body.get("error", response.body) if isinstance(response.body, dict) else ""
            raise InvalidRequestError(f"the embeddings endpoint answered {response.status_code}: {detail}")
        data = response.body.get("data") if isinstance(response.body, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise MalformedResponseError("the embeddings answer has no list of 'data' objects")
        rows = sorted(data, key=lambda d: d.get("index", -1))
        if len(rows) != len(texts) or [d.get("index") for d in rows] != list(range(len(texts))):
            raise MalformedResponseError(f"asked for {len(texts)} embeddings, the server sent {len(rows)}")
        try:
            matrix = np.asarray([d["embedding"] for d in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
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
        parts = await parallel_map(self._request, batches, self.max_concurrent)  # the client retries
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
            if self._owns_client:  # this private loop's connections
                await self.client.aclose()

    def __repr__(self) -> str:
        base_url = redact_url(self.base_url) if self.base_url else self.base_url
        return f"OpenAIEmbedder(model={self.model!r}, base_url={base_url!r})"


def _estimated_tokens(batch: list[str]) -> int:
    """Tokens a batch spends, for a tokens-per-minute budget: about four characters per token."""
    return sum(len(text) // 4 + 1 for text in batch)
