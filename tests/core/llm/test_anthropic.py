"""The Anthropic provider on the official SDK against the fake server's ``/v1/messages`` (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("anthropic")

from kagura.core.llm import (
    Attachment,
    LLMClient,
    LLMConfig,
    ModelPrice,
    PriceTable,
    call_llm,
    track_usage,
)
from kagura.core.llm._call import default_clients
from kagura.errors import AuthenticationError, InvalidRequestError, RateLimitedError, ServerError
from kagura.testing import FakeLLMServer

KEY = "sk-ant-test-key-0123456789"


def _config(server: FakeLLMServer, **kw: Any) -> LLMConfig:
    kw.setdefault("model", "claude-sonnet-4-5")
    return LLMConfig(provider="anthropic", base_url=server.base_url, api_key=KEY, **kw)


@pytest.fixture(autouse=True)
def _fresh_default_clients():
    default_clients.clear()
    yield
    default_clients.clear()


def test_claude_model_with_an_anthropic_key_selects_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-not-for-claude")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("KAGURA_LLM_BASE_URL", raising=False)
    assert LLMConfig(model="claude-haiku-4-5").provider_name == "openai"  # no Anthropic key
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    config = LLMConfig(model="claude-haiku-4-5")
    assert config.provider_name == "anthropic"
    assert config.api_key_for("anthropic") == "sk-ant-env"
    assert LLMConfig(model="claude-haiku-4-5", base_url="http://127.0.0.1:1/v1").provider_name == "openai"
    explicit = LLMConfig(provider="anthropic", api_key="sk-ant-given")
    assert explicit.api_key_for("anthropic") == "sk-ant-given"
    assert "sk-ant" not in repr(config) + repr(explicit)


async def test_system_image_and_pdf_go_inline_and_the_answer_comes_back() -> None:
    image = Attachment.from_bytes(b"\x89PNG tiny", "image/png")
    pdf = Attachment.from_bytes(b"%PDF-1.4 tiny", "application/pdf", name="doc.pdf")
    async with FakeLLMServer() as server:
        async with LLMClient(_config(server, max_tokens=50)) as client:
            response = await client.complete("describe", [image, pdf], system="be terse")
        body = server.received[0]
    assert response.text == "fake answer: describe"
    assert response.finish_reason == "end_turn" and response.provider == "anthropic"
    assert response.headers["request-id"] == "req_fake_1"
    assert body["system"] == [{"type": "text", "text": "be terse"}]
    assert body["max_tokens"] == 50 and "temperature" not in body
    blocks = body["messages"][0]["content"]
    assert [b["type"] for b in blocks] == ["image", "document", "text"]
    assert blocks[0]["source"] == {"type": "base64", "media_type": "image/png", "data": image.base64()}
    assert blocks[1]["source"]["media_type"] == "application/pdf"
    assert not any("cache_control" in b for b in blocks)


async def test_streaming_yields_deltas_and_counts_usage() -> None:
    async with FakeLLMServer() as server:
        async with LLMClient(_config(server)) as client:
            with track_usage() as usage:
                deltas = [d async for d in client.stream("stream this please")]
        log = server.stats.usage_log
    assert deltas == ["fake", " answer:", " stream", " this", " please"]
    assert usage.total.prompt_tokens == log[0]["input_tokens"] > 0
    assert usage.total.completion_tokens == log[0]["output_tokens"] > 0


@pytest.mark.parametrize(("status", "error"), [(429, RateLimitedError), (529, ServerError)])
async def test_429_and_529_overloaded_are_retried(status: int, error: type[Exception]) -> None:
    async with FakeLLMServer() as server:
        async with LLMClient(_config(server)) as client:
            server.fail_next(status, 2, retry_after=0)
            assert await client.call("again") == "fake answer: again"
            assert server.stats.requests == 3
            server.fail_next(status, 1, retry_after=0)
            with pytest.raises(error) as caught:
                await client.call("once", config=_config(server, max_attempts=1))
    if status == 529:
        assert "529" in str(caught.value) and "overloaded" in str(caught.value)


async def test_bad_request_and_missing_key_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    async with FakeLLMServer() as server:
        async with LLMClient(_config(server)) as client:
            server.fail_next(400, 1)
            with pytest.raises(InvalidRequestError):
                await client.call("bad")
        assert server.stats.requests == 1
        with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
            await call_llm(
                "no key", LLMConfig(provider="anthropic", model="claude-x", base_url=server.base_url)
            )
        assert server.stats.requests == 1


async def test_anthropic_ratelimit_headers_feed_the_adaptive_controller() -> None:
    async with FakeLLMServer(quota_rpm=90) as server:
        async with LLMClient(_config(server)) as client:
            response = await client.complete("hi")
            assert response.headers["anthropic-ratelimit-requests-limit"] == "90"
            assert client.controller is not None
            assert client.controller.state.header_requests == 90


async def test_prompt_cache_writes_then_reads_and_dollars_match_the_usage_log() -> None:
    # Prices high enough that each token is visible in cents: input $1000/1M, cache read $100, write $1250.
    price = ModelPrice(input=1000.0, output=5000.0, cached_input=100.0, cache_write=1250.0)
    prices = PriceTable({"claude-sonnet-4-5": price})
    system = "You are a careful assistant. " * 80
    async with FakeLLMServer() as server:
        async with LLMClient(_config(server, prompt_cache=True), prices=prices) as client:
            with track_usage() as usage:
                first = await client.complete("question one", system=system)
                second = await client.complete("question two", system=system)
        body = server.received[0]
        log = server.stats.usage_log
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first.usage.cache_write_tokens > 0 and first.usage.cached_input_tokens == 0
    assert second.usage.cached_input_tokens > 0  # the system prompt, read back from the cache
    hand = 0.0
    for row in log:
        plain = row["input_tokens"] - row["cached_input_tokens"] - row["cache_write_tokens"]
        hand += plain * 1000 + row["cached_input_tokens"] * 100 + row["cache_write_tokens"] * 1250
        hand += row["output_tokens"] * 5000
    hand /= 1e6
    assert hand > 0.5
    assert round(usage.cost_by_model["anthropic:claude-sonnet-4-5"] or 0, 2) == round(hand, 2)
    assert usage.cost_usd == pytest.approx(hand, rel=1e-12)


async def test_schema_goes_as_a_forced_tool_and_broken_answers_are_repaired() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    async with FakeLLMServer(invalid_json_rate=0.3) as server:
        async with LLMClient(_config(server)) as client:
            results = [await client.complete(f"q{i}", schema=schema, max_repairs=8) for i in range(30)]
        first = server.received[0]
        stats = server.stats
    assert first["tools"][0]["input_schema"] == schema
    assert first["tool_choice"] == {"type": "tool", "name": "response"}
    assert all(r.parsed == {"city": "x"} for r in results)
    assert stats.invalid_answers > 0 and sum(r.repairs for r in results) == stats.invalid_answers


async def test_a_non_object_schema_is_wrapped_for_the_tool_and_unwrapped() -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 2}
    async with FakeLLMServer() as server:
        async with LLMClient(_config(server)) as client:
            value = (await client.complete("numbers", schema=schema)).parsed
        tool = server.received[0]["tools"][0]
    assert value == [0, 0]
    assert tool["input_schema"]["properties"]["value"] == schema
    assert json.loads(json.dumps(value)) == [0, 0]
