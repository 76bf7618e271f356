"""Alternative embedders: OpenAI-compatible (on the loopback fake server) and sentence-transformers."""

from __future__ import annotations

import asyncio
import sys

import numpy as np
import pytest

from kagura.core.memory import Embedder, get_embedder
from kagura.core.memory.embedders._openai import OpenAIEmbedder
from kagura.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    RateLimitedError,
    ServerError,
)
from kagura.testing import FakeLLMServer, fake_embedding


async def test_openai_embedder_against_fake_server() -> None:
    async with FakeLLMServer(embedding_dim=32) as server:
        emb = get_embedder("openai", model="fake-embed", base_url=server.base_url, api_key="test")
        with pytest.raises(RuntimeError, match="not known yet"):
            _ = emb.dimension  # unknown model, and a probe cannot block the running loop
        texts = ["alpha", "beta", "gamma"]
        vecs = await emb.aembed(texts)
        assert vecs.shape == (3, 32) and vecs.dtype == np.float32
        expected = np.array([fake_embedding(t, 32) for t in texts], dtype=np.float32)
        np.testing.assert_allclose(vecs, expected, atol=1e-6)
        assert emb.dimension == 32  # learnt from the answer
        assert isinstance(emb, Embedder)
        assert server.received[-1]["model"] == "fake-embed"
        assert server.received[-1]["input"] == texts


async def test_openai_embedder_batches_keep_input_order_and_bound_concurrency() -> None:
    async with FakeLLMServer(latency=0.01, embedding_dim=8) as server:
        emb = OpenAIEmbedder("fake", base_url=server.base_url, api_key="t", batch_size=3, max_concurrent=2)
        texts = [f"text {i}" for i in range(10)]
        vecs = await emb.aembed(texts)
        expected = np.array([fake_embedding(t, 8) for t in texts], dtype=np.float32)
        np.testing.assert_allclose(vecs, expected, atol=1e-6)
        assert server.stats.embedding_requests == 4  # 3 + 3 + 3 + 1
        assert server.stats.max_in_flight <= 2
        assert sorted(len(body["input"]) for body in server.received) == [1, 3, 3, 3]


async def test_openai_dimensions_parameter_is_sent() -> None:
    async with FakeLLMServer() as server:
        emb = OpenAIEmbedder("fake", base_url=server.base_url, api_key="t", dimensions=16)
        assert emb.dimension == 16
        assert (await emb.aembed(["x"])).shape == (1, 16)
        assert server.received[-1]["dimensions"] == 16


async def test_openai_retries_rate_limit_then_succeeds() -> None:
    async with FakeLLMServer(embedding_dim=4) as server:
        server.fail_next(429, retry_after=0.0)
        emb = OpenAIEmbedder("fake", base_url=server.base_url, api_key="t")
        vecs = await emb.aembed(["retry me"])
        np.testing.assert_allclose(vecs[0], fake_embedding("retry me", 4), atol=1e-6)
        assert server.stats.embedding_requests == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (400, InvalidRequestError), (500, ServerError), (429, RateLimitedError)],
)
async def test_openai_errors_are_translated(status: int, error: type[Exception]) -> None:
    async with FakeLLMServer() as server:
        for _ in range(3):
            server.fail_next(status, retry_after=0.0)
        emb = OpenAIEmbedder("fake", base_url=server.base_url, api_key="t", max_attempts=1)
        with pytest.raises(error):
            await emb.aembed(["x"])


def test_openai_sync_embed_from_a_thread_without_loop() -> None:
    async def main() -> None:
        async with FakeLLMServer(embedding_dim=8) as server:
            emb = OpenAIEmbedder("fake", base_url=server.base_url, api_key="t")
            vecs = await asyncio.to_thread(emb.embed, ["from a worker thread"])
            np.testing.assert_allclose(vecs[0], fake_embedding("from a worker thread", 8), atol=1e-6)
            with pytest.raises(RuntimeError, match="aembed"):
                emb.embed(["inside the loop"])
            probing = OpenAIEmbedder("fake", base_url=server.base_url, api_key="t")
            assert await asyncio.to_thread(lambda: probing.dimension) == 8  # blocking probe, no loop there

    asyncio.run(main())


def test_openai_needs_key_or_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="API key"):
        OpenAIEmbedder()
    with pytest.raises(ValueError, match="batch_size"):
        OpenAIEmbedder(api_key="k", batch_size=0)
    assert OpenAIEmbedder(api_key="k").dimension == 1536  # known model, no request made


def test_sentence_transformers_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ConfigurationError, match=r"kagura\[sentence-transformers\]"):
        get_embedder("sentence-transformers")


def test_sentence_transformers_embedder_when_installed() -> None:
    pytest.importorskip("sentence_transformers")
    emb = get_embedder("sentence-transformers")
    vecs = emb.embed(["A man is eating food.", "A man is eating a piece of bread."])
    assert vecs.shape == (2, emb.dimension)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
