"""LLMClient: isolated state per client, injected providers, token reconciliation, the default-client
wrappers, and adaptive control against the quota-enforcing fake server (virtual clock)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from kagura.core.llm import (
    LLMClient,
    LLMConfig,
    LLMRequest,
    LLMResponse,
    Provider,
    Usage,
    call_llm,
    complete,
    configure_rate_limit,
    limiter_for,
    register_provider,
)
from kagura.core.llm._call import default_clients
from kagura.core.parallel import RateLimiter, parallel_map
from kagura.errors import RateLimitedError
from kagura.testing import FakeLLMServer


class Scripted(Provider):
    """An unregistered provider: answers with a fixed usage, records when each call started."""

    name: ClassVar[str] = "scripted"

    def __init__(self, usage: Usage = Usage(10, 10), clock=None) -> None:  # noqa: B008 - frozen value
        self.usage = usage
        self.clock = clock
        self.starts: list[float] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.starts.append(self.clock() if self.clock else 0.0)
        return LLMResponse(f"ok {request.prompt}", self.usage, model=request.model, provider=self.name)


class RecordingLimiter(RateLimiter):
    """A real limiter that also remembers every reconciliation it was asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.adjustments: list[float] = []

    def adjust(self, tokens: float) -> None:
        self.adjustments.append(tokens)
        super().adjust(tokens)


@pytest.fixture(autouse=True)
def _forget_default_clients():
    yield
    default_clients.clear()


def _server_config(server: FakeLLMServer, key: str = "test", **kw) -> LLMConfig:
    return LLMConfig(model="fake", base_url=server.base_url, api_key=key, **{"retry_max_delay": 0.05, **kw})


@pytest.mark.looptime
async def test_two_clients_keep_two_budgets(fake_llm_server: FakeLLMServer) -> None:
    loop = asyncio.get_running_loop()
    config = _server_config(fake_llm_server)
    slow = LLMClient(config, limiter=RateLimiter(60, burst=1, clock=loop.time), clock=loop.time)
    fast = LLMClient(config, limiter=RateLimiter(120, burst=1, clock=loop.time), clock=loop.time)
    start = loop.time()
    await asyncio.gather(*(c.call(f"{name}{i}") for i in range(4) for name, c in (("s", slow), ("f", fast))))
    times: dict[str, list[float]] = {"s": [], "f": []}
    for body, when in zip(fake_llm_server.received, fake_llm_server.stats.request_times, strict=True):
        times[body["messages"][-1]["content"][0]].append(round(when - start, 6))
    assert times == {"s": [0, 1, 2, 3], "f": [0, 0.5, 1, 1.5]}  # same endpoint, separate budgets


async def test_an_injected_provider_needs_no_registry() -> None:
    provider = Scripted()
    async with LLMClient(LLMConfig(model="m", provider="openai", api_key="k"), provider=provider) as client:
        assert await client.call("hi") == "ok hi"
        response = await client.complete("again", system="s")
    assert response.usage == Usage(10, 10) and len(provider.starts) == 2


async def test_the_estimate_is_reconciled_with_the_real_usage() -> None:
    limiter = RecordingLimiter(tokens_per_minute=100_000)
    config = LLMConfig(model="m", api_key="k", max_tokens=50)
    for usage in (Usage(900, 100), Usage(1, 1)):
        provider = Scripted(usage)
        client = LLMClient(config, provider=provider, limiter=limiter)
        await client.call("x" * 40)
        estimate = provider.estimate_tokens(LLMRequest(model="m", prompt="x" * 40, max_tokens=50))
        assert limiter.adjustments[-1] == usage.total_tokens - estimate
    assert limiter.adjustments[0] > 0 > limiter.adjustments[1]  # charged more, then refunded


@pytest.mark.looptime
async def test_reconciliation_moves_the_next_admission() -> None:
    loop = asyncio.get_running_loop()
    config = LLMConfig(model="m", api_key="k", max_tokens=10)
    starts = {}
    for label, usage in (("exact", None), ("costly", Usage(1_000, 0))):
        provider = Scripted(clock=loop.time)
        request = LLMRequest(model="m", prompt="q", max_tokens=10)
        provider.usage = usage or Usage(provider.estimate_tokens(request), 0)
        limiter = RateLimiter(tokens_per_minute=6_000, clock=loop.time)  # 100 tokens/s
        client = LLMClient(config, provider=provider, limiter=limiter, clock=loop.time)
        t0 = loop.time()
        await client.call("q")
        await client.call("q")
        starts[label] = provider.starts[1] - t0
    assert starts["exact"] < 0.5  # the estimate was right: the second call fits at once
    assert starts["costly"] >= 9.0  # 1,000 real tokens at 100/s: the next call waits for them


async def test_a_config_for_another_endpoint_is_refused() -> None:
    client = LLMClient(LLMConfig(model="m", base_url="http://127.0.0.1:1/v1", api_key="k"))
    with pytest.raises(ValueError, match="another LLMClient"):
        await client.call("x", config=LLMConfig(model="m", base_url="http://127.0.0.1:2/v1", api_key="k"))
    with pytest.raises(TypeError, match="provider"):
        LLMClient(LLMConfig(model="m"), provider=42)  # type: ignore[arg-type]


def test_wrong_arguments_say_what_to_pass() -> None:
    with pytest.raises(TypeError, match="adaptive"):
        LLMConfig(model="m", adaptive="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="adaptive"):
        LLMClient(LLMConfig(model="m"), adaptive=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="limiter"):
        LLMClient(LLMConfig(model="m"), limiter=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cache"):
        LLMClient(LLMConfig(model="m"), cache=3)  # type: ignore[arg-type]


async def test_aclose_closes_the_sdk_clients(fake_llm_server: FakeLLMServer) -> None:
    config = _server_config(fake_llm_server)
    async with LLMClient(config) as client:
        assert await client.call("x") == "fake answer: x"
        sdk = client.provider.sdk_client(config.base_url, config.api_key)  # type: ignore[attr-defined]
        assert not sdk.is_closed()
    assert sdk.is_closed()


# -- the default clients behind call_llm -------------------------------------------------------------------
async def test_call_llm_shares_one_default_client_per_endpoint(fake_llm_server: FakeLLMServer) -> None:
    a = _server_config(fake_llm_server)
    b = _server_config(fake_llm_server, temperature=0.7)
    other_key = _server_config(fake_llm_server, key="other")
    await asyncio.gather(call_llm("1", a), call_llm("2", b), call_llm("3", other_key))
    assert default_clients.peek(a) is default_clients.peek(b) is not None
    assert default_clients.peek(other_key) not in (None, default_clients.peek(a))
    temperatures = {body["messages"][-1]["content"]: body["temperature"] for body in fake_llm_server.received}
    assert temperatures == {"1": 0.0, "2": 0.7, "3": 0.0}  # each call keeps its own config


async def test_a_budget_in_a_config_changes_the_live_default_client(fake_llm_server: FakeLLMServer) -> None:
    await call_llm("x", _server_config(fake_llm_server, requests_per_minute=600))
    client = default_clients.peek(_server_config(fake_llm_server))
    assert client is not None and client.budget == (600, None)
    await call_llm("y", _server_config(fake_llm_server, requests_per_minute=1200, tokens_per_minute=90_000))
    assert default_clients.peek(_server_config(fake_llm_server)) is client  # the same client, retuned
    assert client.limiter.requests_per_minute == 1200 and client.limiter.tokens_per_minute == 90_000
    with pytest.warns(DeprecationWarning):
        assert limiter_for(_server_config(fake_llm_server)) is client.limiter
    with pytest.warns(DeprecationWarning):
        assert configure_rate_limit(_server_config(fake_llm_server), requests_per_minute=60) is client.limiter
    assert client.limiter.requests_per_minute == 60 and client.limiter.tokens_per_minute is None


async def test_adaptive_false_bypasses_the_controller(fake_provider) -> None:
    on = LLMConfig(model="m", provider="fake")
    await complete("x", on)
    client = default_clients.peek(on)
    assert client is not None and client.controller is not None
    seen = client.controller.state
    assert seen.last_increase > float("-inf")  # the success reached the controller
    await complete("y", LLMConfig(model="m", provider="fake", adaptive=False))
    assert client.controller.state == seen  # this one did not
    assert client.controller.gate.in_flight == 0
    await complete("z", on)
    assert client.controller.state.last_increase > seen.last_increase
    assert LLMClient(on, adaptive=False).controller is None


async def test_re_registering_a_provider_gives_a_fresh_default_client() -> None:
    @register_provider
    class First(Provider):
        name = "swap-test"

        async def complete(self, request: LLMRequest) -> LLMResponse:
            return LLMResponse("first")

    config = LLMConfig(model="m", provider="swap-test")
    assert await call_llm("x", config) == "first"

    @register_provider
    class Second(First):
        async def complete(self, request: LLMRequest) -> LLMResponse:
            return LLMResponse("second")

    assert await call_llm("x", config) == "second"


# -- headers and adaptive control over HTTP ------------------------------------------------------------------
@pytest.mark.looptime
async def test_quota_headers_reach_responses_errors_and_the_controller() -> None:
    loop = asyncio.get_running_loop()
    async with FakeLLMServer(quota_rpm=60, quota_burst=1, clock=loop.time) as server:
        config = _server_config(server, max_attempts=1)
        client = LLMClient(config, clock=loop.time)
        response = await client.complete("first")
        assert response.headers["x-ratelimit-limit-requests"] == "60"
        assert client.controller is not None and client.controller.state.requests_per_minute == 60
        assert client.limiter.requests_per_minute == 60  # learned from the headers
        blind = LLMClient(config, adaptive=False, clock=loop.time)
        with pytest.raises(RateLimitedError) as caught:
            await blind.call("second")  # nothing holds it back: the server's bucket is empty
        assert caught.value.headers["x-ratelimit-remaining-requests"] == "0"
        assert 0 < (caught.value.retry_after or 0) <= 1.0  # from retry-after-ms, not the rounded header


@pytest.mark.looptime
@pytest.mark.parametrize("quota_headers", [True, False])
async def test_adaptive_client_stays_within_an_unknown_quota(quota_headers: bool) -> None:
    loop = asyncio.get_running_loop()
    async with FakeLLMServer(
        latency=0.2, quota_rpm=120, quota_burst=2, quota_headers=quota_headers, clock=loop.time
    ) as server:
        config = _server_config(server, max_attempts=10, retry_max_delay=5)
        adaptive = LLMClient(config, clock=loop.time)
        answers = await parallel_map(adaptive.call, [f"q{i}" for i in range(60)], max_concurrent=20)
        assert len(answers) == 60
        adaptive_429 = server.stats.over_quota
        server.reset_stats()
        naive = LLMClient(
            _server_config(server, key="naive", max_attempts=10), adaptive=False, clock=loop.time
        )
        await parallel_map(
            naive.call, [f"q{i}" for i in range(60)], max_concurrent=20, return_exceptions=True
        )
        naive_429 = server.stats.over_quota
    if quota_headers:
        # only the first round trip (8 at once against a burst of 2), before an answer announced the quota
        assert adaptive_429 <= 8
    else:
        assert adaptive_429 <= 30  # learned from 429s alone, on a tiny quota (2/s): the cold start costs

    assert naive_429 > 3 * max(adaptive_429, 1)
