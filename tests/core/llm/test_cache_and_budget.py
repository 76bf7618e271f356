"""Response cache, in-flight coalescing and the shared RPM budget, against the loopback server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kagura.core.llm import (
    Attachment,
    LLMClient,
    LLMConfig,
    ResponseCache,
    cache_key,
    complete,
    configure_rate_limit,
    default_client,
    default_clients,
    limiter_for,
    track_usage,
)
from kagura.testing import FakeLLMServer


def _config(server: FakeLLMServer, tmp_path: Path, **kw) -> LLMConfig:
    return LLMConfig(
        model="fake",
        base_url=server.base_url,
        api_key="sk-cache-secret-0001",
        cache_path=tmp_path / "c.sqlite",
        **kw,
    )


async def test_cache_hit_makes_no_request(fake_llm_server: FakeLLMServer, tmp_path: Path) -> None:
    config = _config(fake_llm_server, tmp_path, enable_cache=True)
    with track_usage() as usage:
        first = await complete("same question", config)
        second = await complete("same question", config)
    assert fake_llm_server.stats.requests == 1
    assert second.text == first.text and second.cached and not first.cached
    assert usage.calls == 2 and usage.cached_calls == 1 and usage.total == first.usage
    await complete("same question", LLMConfig(**{**config.__dict__, "temperature": 0.5}))
    await complete("same question", config, system="other system prompt")
    assert fake_llm_server.stats.requests == 3  # sampling params and messages are part of the key


async def test_cache_persists_in_sqlite_without_keys(fake_llm_server: FakeLLMServer, tmp_path: Path) -> None:
    config = _config(fake_llm_server, tmp_path, enable_cache=True)
    image = Attachment.from_bytes(b"\x89PNG fake", "image/png")
    answer = await complete("look", config, attachments=[image])
    fresh = ResponseCache(tmp_path / "c.sqlite")  # a new object, as another process would open it
    request_key = cache_key("openai", _request_for(config, "look", image))
    hit = fresh.get_sync(request_key)
    assert hit is not None and hit.text == answer.text and hit.cached
    other_image = Attachment.from_bytes(b"\x89PNG other", "image/png")
    assert fresh.get_sync(cache_key("openai", _request_for(config, "look", other_image))) is None
    raw = await asyncio.to_thread(lambda: b"".join(p.read_bytes() for p in tmp_path.glob("c.sqlite*")))
    assert b"sk-cache-secret-0001" not in raw


def _request_for(config: LLMConfig, prompt: str, attachment: Attachment):
    from kagura.core.llm import LLMRequest

    return LLMRequest(model="fake", prompt=prompt, attachments=(attachment,), base_url=config.base_url)


async def test_cache_entries_expire_after_ttl(fake_llm_server: FakeLLMServer, tmp_path: Path) -> None:
    config = _config(fake_llm_server, tmp_path, enable_cache=True, cache_ttl=60.0)
    cache = ResponseCache(tmp_path / "c.sqlite")
    now = [1_000_000.0]
    cache.clock = lambda: now[0]
    client = LLMClient(config, cache=cache)  # the cache is injected: no global registry involved
    await client.complete("q")
    now[0] += 59
    assert (await client.complete("q")).cached
    now[0] += 2
    assert not (await client.complete("q")).cached
    assert fake_llm_server.stats.requests == 2


async def test_coalescing_makes_one_request_for_identical_concurrent_calls(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def responder(messages: list[dict]) -> str:
        await release.wait()
        return "shared answer"

    async with FakeLLMServer(responder=responder) as server:
        config = _config(server, tmp_path, enable_cache=True)
        with track_usage() as usage:
            calls = [asyncio.ensure_future(complete("identical", config)) for _ in range(10)]
            await server.wait_for_requests(1)
            release.set()
            results = await asyncio.gather(*calls)
        assert {r.text for r in results} == {"shared answer"}
        assert server.stats.requests == 1
        assert usage.calls == 10 and usage.cached_calls == 9
        assert usage.total.completion_tokens == server.stats.completion_tokens  # tokens counted once
        # coalescing alone (no cache): same result
        server.reset_stats()
        no_cache = LLMConfig(model="fake", base_url=server.base_url, api_key="t", coalesce=True)
        results = await asyncio.gather(*(complete("again", no_cache) for _ in range(5)))
        assert server.stats.requests == 1 and len(results) == 5


async def test_without_cache_or_coalescing_every_call_is_a_request(fake_llm_server: FakeLLMServer) -> None:
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="t")
    await asyncio.gather(*(complete("same", config) for _ in range(4)))
    assert fake_llm_server.stats.requests == 4


@pytest.mark.looptime
async def test_concurrent_calls_share_one_rpm_budget(fake_llm_server: FakeLLMServer) -> None:
    loop = asyncio.get_running_loop()
    a = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="budget-key")
    b = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="budget-key", temperature=0.7)
    try:
        with pytest.warns(DeprecationWarning, match="configure_rate_limit"):
            limiter = configure_rate_limit(a, requests_per_minute=3, clock=loop.time)
        with pytest.warns(DeprecationWarning, match="limiter_for"):
            assert limiter_for(b) is limiter  # same provider, endpoint and key: one budget
        start = loop.time()
        await asyncio.gather(*(complete(f"q{i}", a if i % 2 else b) for i in range(7)))
        times = sorted(t - start for t in fake_llm_server.stats.request_times)
        assert len(times) == 7
        for i in range(len(times) - 3):
            assert times[i + 3] - times[i] >= 60 - 1e-6  # never more than 3 starts in any 60 s window
        assert times[-1] >= 120 - 1e-6
        with pytest.warns(DeprecationWarning):
            assert configure_rate_limit(a, requests_per_minute=10) is limiter  # a live budget can change
        assert limiter.requests_per_minute == 10
        other_key = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="another-key")
        with pytest.warns(DeprecationWarning):
            assert limiter_for(other_key) is None
    finally:
        default_clients.clear()


async def test_config_fields_create_the_shared_limiter(fake_llm_server: FakeLLMServer) -> None:
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="k", tokens_per_minute=10_000)
    try:
        await complete("hello", config)
        limiter = default_client(config).limiter
        assert limiter is not None and limiter.tokens_per_minute == 10_000
        assert limiter.booked[1] > 0  # the call's token estimate was spent
    finally:
        default_clients.clear()


async def test_coalesced_failure_reaches_every_caller_once(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.fail_next(401)
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="t", coalesce=True)
    results = await asyncio.gather(*(complete("same", config) for _ in range(4)), return_exceptions=True)
    assert all(type(r).__name__ == "AuthenticationError" for r in results)
    assert fake_llm_server.stats.requests == 1
    assert (await complete("same", config)).text == "fake answer: same"  # the failed flight is not remembered


async def test_one_openai_client_per_endpoint_and_key(fake_llm_server: FakeLLMServer) -> None:
    from kagura.core.llm import OpenAICompatibleProvider

    provider, other = OpenAICompatibleProvider(), OpenAICompatibleProvider()
    url = fake_llm_server.base_url
    assert provider.sdk_client(url, "k1") is provider.sdk_client(url, "k1")
    assert provider.sdk_client(url, "k1") is not provider.sdk_client(url, "k2")
    assert provider.sdk_client(url, "k1") is not other.sdk_client(url, "k1")  # owned per instance
    assert provider.sdk_client(url, "k1").max_retries == 0
    sdk = provider.sdk_client(url, "k1")
    await provider.aclose()
    assert sdk.is_closed() and provider.sdk_client(url, "k1") is not sdk
