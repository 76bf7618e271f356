"""Cost in dollars: the price table (lookups, files, KAGURA_PRICES), ``Usage.cost_usd`` filled by the
client, and ``UsageTracker`` dollar totals checked against the fake server's own usage log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kagura.core.llm import (
    LLMClient,
    LLMConfig,
    ModelPrice,
    PriceTable,
    Usage,
    complete,
    track_usage,
)
from kagura.core.llm._call import default_clients
from kagura.errors import ConfigurationError
from kagura.testing import FakeLLMServer


def test_usage_keeps_old_names_and_sums_cache_and_reasoning_tokens() -> None:
    a = Usage(100, 20, cached_input_tokens=30, cache_write_tokens=10, reasoning_tokens=5, cost_usd=0.5)
    b = Usage(10, 2, cost_usd=0.25)
    total = a + b
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (110, 22, 132)
    assert (total.input_tokens, total.output_tokens) == (110, 22)
    assert (total.cached_input_tokens, total.cache_write_tokens, total.reasoning_tokens) == (30, 10, 5)
    assert total.cost_usd == pytest.approx(0.75)
    assert a.uncached_input_tokens == 60
    assert (a + Usage(1, 1)).cost_usd is None  # an unknown part makes the sum unknown
    assert (Usage() + a) == a  # ... but an empty Usage adds nothing


def test_default_table_is_dated_and_finds_snapshots_never_guesses() -> None:
    table = PriceTable.default()
    assert table.as_of and table.as_of[:2] == "20"
    mini = table.price("gpt-4o-mini")
    assert mini is not None
    assert table.price("gpt-4o-mini-2024-07-18") == mini
    assert table.price("claude-3-5-haiku-20241022") == table.price("claude-3-5-haiku")
    assert table.price("claude-3-5-haiku-latest") == table.price("claude-3-5-haiku")
    assert table.price("models/gemini-1.5-flash-002") == table.price("gemini-1.5-flash")
    assert table.price("gpt-4o-2024-05-13") != table.price("gpt-4o")  # an exact entry wins
    for unknown in ("fake", "gpt-4o-mini-turbo", "my-model-2024-01-01", "claude"):
        assert table.price(unknown) is None
        assert table.cost(unknown, Usage(1000, 1000)) is None


def test_cost_prices_each_kind_of_token_and_the_batch_discount() -> None:
    price = ModelPrice(input=2.0, output=8.0, cached_input=0.5, cache_write=2.5, batch=0.5)
    usage = Usage(1_000_000, 500_000, cached_input_tokens=200_000, cache_write_tokens=100_000)
    # 700k plain input at $2 + 200k cached at $0.5 + 100k written at $2.5 + 500k output at $8
    assert price.cost(usage) == pytest.approx(1.4 + 0.1 + 0.25 + 4.0)
    assert price.cost(usage, batch=True) == pytest.approx((1.4 + 0.1 + 0.25 + 4.0) / 2)
    plain = ModelPrice(input=1.0, output=1.0)  # cache rates default to the input rate
    assert plain.cost(usage) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="input"):
        ModelPrice(input=-1.0, output=1.0)


def test_price_file_merges_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-model": {"input": 1, "output": 2}, "gpt-4o": {"input": 9, "output": 9}}))
    table = PriceTable.from_file(path)
    assert table.price("my-model") == ModelPrice(input=1, output=2)
    assert table.price("gpt-4o") == ModelPrice(input=9, output=9)
    assert table.price("gpt-4o-mini") == PriceTable.default().price("gpt-4o-mini")
    alone = PriceTable.from_file(path, base=PriceTable())
    assert set(alone) == {"my-model", "gpt-4o"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not valid JSON"),
        ('["gpt-4o"]', "JSON object"),
        ('{"m": {"input": 1}}', "lacks output"),
        ('{"m": {"input": 1, "output": 1, "inptu": 3}}', "unknown fields"),
        ('{"m": {"input": "cheap", "output": 1}}', "must be a number"),
    ],
)
def test_bad_price_file_is_a_configuration_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        PriceTable.from_file(path)


# -- dollars against the fake server's bill ---------------------------------------------------------------
# Prices high enough that every token is worth a visible fraction of a cent.
PRICES = {
    "gpt-4o-mini": {"input": 1500.0, "cached_input": 750.0, "output": 6000.0},
    "house-model": {"input": 1000.0, "output": 3000.0},
}


def _hand_cost(log: list[dict[str, int | str]], model: str) -> float:
    price = PRICES[model]
    dollars = 0.0
    for row in log:
        if row["model"] != model:
            continue
        cached, inputs, outputs = (
            int(row["cached_input_tokens"]),
            int(row["input_tokens"]),
            int(row["output_tokens"]),
        )
        dollars += (inputs - cached) * price["input"] + cached * price.get("cached_input", price["input"])
        dollars += outputs * price["output"]
    return dollars / 1e6


async def test_dollar_totals_match_the_fake_servers_usage_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    monkeypatch.setenv("KAGURA_PRICES", str(prices))  # picked up by the default client's price table
    default_clients.clear()
    try:
        async with FakeLLMServer() as server:
            base = LLMConfig(base_url=server.base_url, api_key="test", max_attempts=1)
            with track_usage() as usage:
                for i in range(12):
                    model = "gpt-4o-mini" if i % 3 else "house-model"
                    config = LLMConfig(model=model, base_url=server.base_url, api_key="test", max_attempts=1)
                    # one shared system prompt: from the second call on, the fake server reads it from
                    # its prompt cache (cached_tokens), which costs half on gpt-4o-mini
                    response = await complete(
                        f"question number {i} " * (i + 1), config, system="be brief " * 20
                    )
                    assert response.usage.cost_usd is not None
                unpriced = await complete("and this?", LLMConfig(model="no-price", base_url=base.base_url,
                                                                 api_key="test"))  # fmt: skip
            log = server.stats.usage_log
    finally:
        default_clients.clear()
    assert unpriced.usage.cost_usd is None
    assert sum(int(row["cached_input_tokens"]) for row in log) > 0
    by_model = usage.cost_by_model
    for model in PRICES:
        hand = _hand_cost(log, model)
        assert hand > 0.5  # the comparison below is meaningful to the cent
        assert round(by_model[f"openai:{model}"] or 0.0, 2) == round(hand, 2)
        assert by_model[f"openai:{model}"] == pytest.approx(hand, rel=1e-12)
    assert by_model["openai:no-price"] is None
    assert usage.unpriced_models == ["openai:no-price"]
    assert usage.cost_usd is None  # one model's cost is unknown, so the total is
    assert usage.known_cost_usd == pytest.approx(sum(_hand_cost(log, m) for m in PRICES), rel=1e-12)


async def test_client_prices_parameter_and_cache_hits_cost_nothing(tmp_path: Path) -> None:
    table = PriceTable({"fake": ModelPrice(input=1e6, output=1e6)})  # $1 per token
    async with FakeLLMServer() as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="test", enable_cache=True,
                           cache_path=tmp_path / "cache.sqlite")  # fmt: skip
        async with LLMClient(config, prices=table) as client:
            first = await client.complete("hello there")
            again = await client.complete("hello there")
    assert first.usage.cost_usd == first.usage.total_tokens
    assert again.cached and again.usage.cost_usd == 0.0
    with pytest.raises(TypeError, match="PriceTable"):
        LLMClient(config, prices={"fake": 1})  # type: ignore[arg-type]


async def test_streamed_calls_are_priced_in_the_tracker() -> None:
    table = PriceTable({"fake": ModelPrice(input=1e6, output=1e6)})  # $1 per token
    async with FakeLLMServer() as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="test")
        async with LLMClient(config, prices=table) as client:
            with track_usage() as usage:
                text = "".join([d async for d in client.stream("stream a priced answer")])
        row = server.stats.usage_log[0]
    assert text == "fake answer: stream a priced answer"
    assert usage.cost_usd == row["input_tokens"] + row["output_tokens"] > 0
