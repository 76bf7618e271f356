"""``LLMConfig(redis_url=...)`` / ``KAGURA_REDIS_URL``: one budget and one learned state per endpoint, across
clients and processes, against a real redis-server and the quota-enforcing fake server."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from kagura.cli.app import app
from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.llm.control._adaptive_redis import RedisAdaptiveState
from kagura.core.parallel.budgets._shared_gcra import connect_redis
from kagura.testing import FakeLLMServer, RedisServer


def _config(server: FakeLLMServer, redis: RedisServer, key: str = "sk-team-secret-1") -> LLMConfig:
    return LLMConfig(model="fake", base_url=server.base_url, api_key=key, redis_url=redis.url)


async def test_the_shared_budget_is_named_by_endpoint_and_key_hash_never_the_key(
    redis_server: RedisServer,
) -> None:
    async with FakeLLMServer(quota_rpm=600) as server:
        config = _config(server, redis_server)
        async with LLMClient(config) as client:
            await client.call("hello")
            shared = client.limiter.shared
            assert shared is not None
            assert shared.key.startswith(f"openai:{server.base_url}:")
            assert isinstance(client.controller.store, RedisAdaptiveState)  # type: ignore[union-attr]
        redis = connect_redis(redis_server.url)
        names = [str(k) async for k in redis.scan_iter(match="kagura:budget:*")]
        values = [json.dumps(await redis.hgetall(n)) for n in names if not n.endswith(":members")]
        await redis.aclose()
        assert names and all("sk-team-secret" not in text for text in names + values)


async def test_what_one_client_learned_is_seen_by_a_fresh_one(redis_server: RedisServer) -> None:
    async with FakeLLMServer(quota_rpm=600) as server:
        config = _config(server, redis_server, key="sk-learn")
        async with LLMClient(config) as first:
            for i in range(3):
                await first.call(f"q{i}")  # the answers announce the quota: x-ratelimit-limit-requests: 600
            assert first.limiter.requests_per_minute == 600
            store = first.controller.store  # type: ignore[union-attr]
            assert isinstance(store, RedisAdaptiveState)
            await store.sync()
        async with LLMClient(config) as second:  # another worker: nothing learned locally yet
            store = second.controller.store  # type: ignore[union-attr]
            assert isinstance(store, RedisAdaptiveState)
            assert store.get().header_requests is None
            learned = await store.sync()
            assert learned.header_requests == 600
            assert learned.requests_per_minute == 600


async def test_an_empty_redis_url_turns_sharing_off(redis_server: RedisServer, monkeypatch) -> None:
    monkeypatch.setenv("KAGURA_REDIS_URL", redis_server.url)
    assert LLMConfig(model="fake").redis_url == redis_server.url
    config = LLMConfig(model="fake", base_url="http://127.0.0.1:9/v1", api_key="k", redis_url="")
    assert LLMClient(config).limiter.shared is None


async def test_budget_show_prints_budgets_and_learned_state(redis_server: RedisServer) -> None:
    async with FakeLLMServer(quota_rpm=600) as server:
        config = _config(server, redis_server, key="sk-show")
        async with LLMClient(config) as client:
            for i in range(3):
                await client.call(f"q{i}")
            await client.controller.store.sync()  # type: ignore[union-attr]
    argv = ["budget", "show", "--redis", redis_server.url, "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, argv)  # the CLI runs its own event loop
    assert result.exit_code == 0, result.output
    budgets = {b["key"]: b for b in json.loads(result.output)}
    mine = next(b for k, b in budgets.items() if k.startswith(f"openai:{server.base_url}:"))
    assert mine["requests_per_minute"] == pytest.approx(600)
    assert float(mine["adaptive"]["header_requests"]) == 600


def test_budget_show_without_redis_is_one_clear_line(monkeypatch) -> None:
    monkeypatch.delenv("KAGURA_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["budget", "show"])
    assert result.exit_code == 2
    assert "KAGURA_REDIS_URL" in result.output and "Traceback" not in result.output


def test_ingest_and_ask_take_redis(redis_server: RedisServer) -> None:
    from kagura.cli.ingest import llm_from_options

    # a reachable Redis: the CLI checks it before any work (tests/cli/test_redis_option.py)
    config = llm_from_options("fake", "http://127.0.0.1:9/v1", False, "k", redis_server.url)
    assert config is not None and config.redis_url == redis_server.url
    for command in ("ingest", "ask"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert "--redis" in result.output
