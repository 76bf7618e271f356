"""``LLMClient(spend_cap=...)``: the dollar cap in the client's admission path, against the fake server.

Whatever the answers' lengths, the dollars the server billed never pass the cap — one client, and several
clients (as several processes would) sharing one cap through a real Redis.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kagura.core.llm import LLMClient, LLMConfig, PriceTable, SpendCap
from kagura.core.parallel import parallel_gather
from kagura.errors import BudgetExceededError, ConfigurationError
from kagura.testing import FakeLLMServer, RedisServer

PRICES = PriceTable.from_mapping({"fake": {"input": 50.0, "output": 400.0}})
MAX_TOKENS = 30  # the fake server counts ~4 characters a token: answers stay within 120 characters


def _billed(server: FakeLLMServer) -> float:
    return (server.stats.prompt_tokens * 50.0 + server.stats.completion_tokens * 400.0) / 1e6


def _random_answers(seed: int) -> Any:
    rng = random.Random(seed)
    return lambda messages: "x" * rng.randint(0, 4 * MAX_TOKENS)


async def _calls(client: LLMClient, prompts: list[str]) -> list[Any]:
    return await parallel_gather(*(client.call(p) for p in prompts), return_exceptions=True)


_prompts = st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=40)


@given(seed=st.integers(0, 2**32), limit=st.floats(0, 0.3), prompts=_prompts)
@settings(max_examples=15, deadline=None)
def test_one_client_never_spends_past_its_cap(seed: int, limit: float, prompts: list[str]) -> None:
    async def run() -> tuple[float, list[Any]]:
        async with FakeLLMServer(responder=_random_answers(seed)) as server:
            config = LLMConfig(model="fake", base_url=server.base_url, api_key="t", max_tokens=MAX_TOKENS)
            async with LLMClient(config, prices=PRICES, spend_cap=SpendCap(limit)) as client:
                results = await _calls(client, prompts)
            return _billed(server), results

    billed, results = asyncio.run(run())
    assert billed <= limit + 1e-12
    assert all(isinstance(r, str | BudgetExceededError) for r in results), results


@given(seed=st.integers(0, 2**32), prompts=_prompts)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_three_clients_on_one_redis_cap_never_spend_past_it(
    redis_server: RedisServer, seed: int, prompts: list[str]
) -> None:
    key = f"test:client-spend:{random.getrandbits(64)}"
    limit = 0.05

    async def run() -> float:
        async with FakeLLMServer(responder=_random_answers(seed)) as server:
            config = LLMConfig(model="fake", base_url=server.base_url, api_key="t", max_tokens=MAX_TOKENS)
            clients = [
                LLMClient(config, prices=PRICES, spend_cap=SpendCap(limit, redis=redis_server.url, key=key))
                for _ in range(3)
            ]
            try:
                await asyncio.gather(*(_calls(c, prompts[i::3]) for i, c in enumerate(clients)))
            finally:
                for client in clients:
                    await client.aclose()
            return _billed(server)

    assert asyncio.run(run()) <= limit + 1e-12


async def test_a_refused_call_sends_nothing_and_is_not_retried() -> None:
    async with FakeLLMServer() as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="t", max_tokens=MAX_TOKENS)
        cap = SpendCap(0.001)  # below one call's worst case (30 answer tokens at $400/1M = $0.012)
        async with LLMClient(config, prices=PRICES, spend_cap=cap) as client:
            with pytest.raises(BudgetExceededError, match="spend cap"):
                await client.call("hello")
            with pytest.raises(BudgetExceededError):
                await client.send("/chat/completions", {"model": "fake", "messages": []})
    assert server.stats.requests == 0
    assert cap.committed == 0.0


async def test_spend_settles_on_the_real_cost_so_later_calls_fit() -> None:
    async with FakeLLMServer(responder=lambda messages: "ok") as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="t", max_tokens=MAX_TOKENS)
        cap = SpendCap(0.02)  # one worst case (~$0.0127) fits at a time; the real cost is ~$0.0005
        async with LLMClient(config, prices=PRICES, spend_cap=cap) as client:
            for _ in range(5):
                await client.call("hi")
    assert server.stats.requests == 5
    assert cap.committed == pytest.approx(_billed(server))


async def test_a_model_without_a_price_is_refused_before_anything_is_sent() -> None:
    async with FakeLLMServer() as server:
        config = LLMConfig(model="unpriced-model", base_url=server.base_url, api_key="t")
        async with LLMClient(config, prices=PRICES, spend_cap=SpendCap(1.0)) as client:
            with pytest.raises(ConfigurationError, match="unpriced-model"):
                await client.call("hello")
    assert server.stats.requests == 0


def test_spend_cap_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="spend_cap"):
        LLMClient(LLMConfig(model="fake"), spend_cap=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="budget"):
        SpendCap(-1.0)
    with pytest.raises(TypeError, match="budget"):
        SpendCap(True)
