"""The client is the one way in: passed explicitly, no hidden state shared between clients, the default
clients visible and closable, the fake provider injected like a transport, the old budget names warn."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from kagura.core.llm import (
    LLMClient,
    LLMConfig,
    PriceTable,
    SpendCap,
    call_llm,
    call_llm_stream,
    complete,
    configure_rate_limit,
    default_client,
    default_clients,
    get_provider,
    holding_back,
    limiter_for,
    reset_rate_limits,
)
from kagura.errors import BudgetExceededError
from kagura.testing import FakeLLMServer, FakeProvider


@pytest.fixture(autouse=True)
def _no_default_clients():
    default_clients.clear()
    yield
    default_clients.clear()


async def test_call_llm_with_a_client_uses_it_and_makes_no_default_client() -> None:
    fake = FakeProvider(lambda request: "through the client")
    client = LLMClient(LLMConfig(model="m"), provider=fake)
    assert await call_llm("q", client=client) == "through the client"
    assert (await complete("q2", client=client)).text == "through the client"
    assert [d async for d in call_llm_stream("q3", client=client)] == ["through the client"]
    assert [r.prompt for r in fake.requests] == ["q", "q2", "q3"]
    assert len(default_clients) == 0  # nothing hidden was created


async def test_two_clients_in_one_process_share_no_limiter_cache_or_provider(tmp_path: Path) -> None:
    a_config = LLMConfig(model="m", provider="fake", requests_per_minute=60, enable_cache=True,
                         cache_path=tmp_path / "a.sqlite")  # fmt: skip
    b_config = LLMConfig(model="m", provider="fake", requests_per_minute=6000, enable_cache=True,
                         cache_path=tmp_path / "b.sqlite")  # fmt: skip
    a, b = LLMClient(a_config), LLMClient(b_config)
    same = LLMClient(a_config)  # even the same config: its own state
    assert a.limiter is not b.limiter and a.limiter is not same.limiter
    assert a.controller is not same.controller
    assert a.provider is not same.provider and a.provider is not b.provider
    assert (a.budget, b.budget) == ((60, None), (6000, None))
    assert await a.call("hello") == "fake answer: hello"
    cache_a, cache_b = a.caches.for_config(a_config), b.caches.for_config(b_config)
    assert cache_a is not None and cache_b is not None and cache_a.path != cache_b.path
    assert cache_a.count_sync() == 1 and not (tmp_path / "b.sqlite").exists()
    assert (
        same.caches.for_config(a_config) is not cache_a
    )  # a cache object per client, not a process registry
    assert get_provider("fake") is not get_provider("fake")  # no shared provider instances


async def test_the_default_client_is_visible_and_closable(fake_llm_server: FakeLLMServer) -> None:
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="k")
    await call_llm("one", config)
    client = default_client(config)
    assert default_clients.peek(config) is client and len(default_clients) == 1
    await call_llm("two", config)
    assert default_client(config) is client  # call_llm used that very client
    await default_clients.aclose()
    assert len(default_clients) == 0 and default_clients.peek(config) is None
    await call_llm("three", config)  # a fresh default client afterwards
    assert default_client(config) is not client
    assert fake_llm_server.stats.requests == 3
    await default_clients.aclose()


async def test_a_client_with_a_spend_cap_caps_call_llm_through_it(fake_llm_server: FakeLLMServer) -> None:
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="k", max_tokens=10)
    prices = PriceTable.from_mapping({"fake": {"input": 1000.0, "output": 1000.0}})
    async with LLMClient(config, prices=prices, spend_cap=SpendCap(0.0)) as client:
        with pytest.raises(BudgetExceededError):
            await call_llm("q", client=client)
    assert fake_llm_server.stats.requests == 0


def test_the_old_budget_names_warn_and_still_work() -> None:
    config = LLMConfig(model="m", provider="fake", api_key="deprecated")
    with pytest.warns(DeprecationWarning, match="requests_per_minute"):
        limiter = configure_rate_limit(config, requests_per_minute=30)
    assert limiter.requests_per_minute == 30
    with pytest.warns(DeprecationWarning, match="limiter_for"):
        assert limiter_for(config) is limiter
    with pytest.warns(DeprecationWarning, match="holding"):
        assert holding_back(config) is None
    with pytest.warns(DeprecationWarning, match="default_clients"):
        reset_rate_limits()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LLMClient(LLMConfig(model="m", provider="fake", requests_per_minute=30))  # the one way: no warning


def test_call_llm_checks_its_client() -> None:
    with pytest.raises(TypeError, match="client must be an LLMClient"):
        call_llm("q", client=LLMConfig(model="m")).send(None)  # type: ignore[arg-type]


def test_fake_provider_state_is_per_instance() -> None:
    one, two = FakeProvider(lambda request: "1"), FakeProvider()
    assert one.responder is not two.responder and one.requests is not two.requests
    with pytest.raises(ValueError, match="latency"):
        FakeProvider(latency=-1)
