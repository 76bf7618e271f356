"""OpenAIEmbedder calls through an LLMClient: one SDK path, one environment lookup, one budget and cap."""

from __future__ import annotations

import numpy as np
import pytest

from kagura.core.llm import LLMClient, LLMConfig, PriceTable, SpendCap
from kagura.core.memory import OpenAIEmbedder
from kagura.core.parallel import RateLimiter
from kagura.errors import BudgetExceededError
from kagura.testing import FakeLLMServer, fake_embedding


async def test_embeddings_go_through_the_client_given() -> None:
    async with FakeLLMServer(embedding_dim=6) as server:
        limiter = RateLimiter(6000)
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="t")
        async with LLMClient(config, limiter=limiter) as client:
            emb = OpenAIEmbedder("fake", client=client, batch_size=2)
            assert emb.client is client and emb.base_url == server.base_url
            vecs = await emb.aembed(["a", "b", "c"])
            np.testing.assert_allclose(vecs[2], fake_embedding("c", 6), atol=1e-6)
            assert limiter.booked[0] == 2  # both batches admitted by the client's own budget
        assert server.stats.embedding_requests == 2


async def test_the_clients_spend_cap_covers_embeddings() -> None:
    async with FakeLLMServer(embedding_dim=4) as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="t")
        prices = PriceTable.from_mapping({"fake": {"input": 100.0, "output": 0.0}})
        async with LLMClient(config, prices=prices, spend_cap=SpendCap(1e-6)) as client:
            with pytest.raises(BudgetExceededError):
                await OpenAIEmbedder("fake", client=client).aembed(["far too long for the cap " * 10])
        assert server.stats.embedding_requests == 0


def test_the_client_argument_is_checked() -> None:
    with pytest.raises(TypeError, match="client"):
        OpenAIEmbedder("fake", client="http://x")  # type: ignore[arg-type]
