"""OpenTelemetry: one span per call and one per attempt, GenAI attributes, retries and waits as events,
metrics — checked with the SDK's in-memory exporter and reader against the fake server."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kagura.core.llm import LLMClient, LLMConfig, ModelPrice, PriceTable, Telemetry
from kagura.core.parallel import RateLimiter
from kagura.errors import RateLimitedError
from kagura.testing import FakeLLMServer

PRICES = PriceTable({"fake": ModelPrice(input=1e6, output=1e6)})


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.telemetry = Telemetry(
            tracer_provider=tracer_provider, meter_provider=MeterProvider([self.reader])
        )

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = list(metric.data.data_points)
        return out


def _config(server: FakeLLMServer, **kw: Any) -> LLMConfig:
    return LLMConfig(model="fake", base_url=server.base_url, api_key="test", retry_max_delay=0.0, **kw)


async def test_one_span_per_attempt_under_one_call_span_with_genai_attributes() -> None:
    otel = Otel()
    async with FakeLLMServer() as server:
        server.fail_next(429, 2, retry_after=0)
        async with LLMClient(_config(server), prices=PRICES, telemetry=otel.telemetry) as client:
            response = await client.complete("hello")
        requests = server.stats.requests
    spans = otel.spans.get_finished_spans()
    calls = [s for s in spans if "kagura.attempt" not in (s.attributes or {})]
    attempts = [s for s in spans if "kagura.attempt" in (s.attributes or {})]
    assert requests == 3 and len(attempts) == 3 and len(calls) == 1  # exactly one span per attempt
    call = calls[0]
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert [a.attributes["kagura.attempt"] for a in attempts] == [1, 2, 3]
    assert [a.attributes.get("error.type") for a in attempts] == [
        "RateLimitedError",
        "RateLimitedError",
        None,
    ]
    attrs = call.attributes
    assert call.name == "chat fake"
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.system"] == "openai"
    assert attrs["gen_ai.request.model"] == "fake"
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.input_tokens > 0
    assert attrs["gen_ai.usage.output_tokens"] == response.usage.output_tokens > 0
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["kagura.cost_usd"] == response.usage.cost_usd and attrs["kagura.attempts"] == 3
    assert all(a.attributes["gen_ai.request.model"] == "fake" for a in attempts)
    retries = [e for e in call.events if e.name == "kagura.retry"]
    assert [e.attributes["kagura.attempt"] for e in retries] == [2, 3]
    assert retries[0].attributes["error.type"] == "RateLimitedError"

    metrics = otel.metrics()
    outcomes = {p.attributes["kagura.outcome"]: p.value for p in metrics["kagura.llm.requests"]}
    assert outcomes == {"rate_limited": 2, "ok": 1}
    assert sum(p.value for p in metrics["kagura.llm.rate_limited"]) == 2
    assert sum(p.value for p in metrics["kagura.llm.in_flight"]) == 0
    assert sum(p.value for p in metrics["kagura.llm.cost"]) == pytest.approx(response.usage.cost_usd)
    tokens = {p.attributes["gen_ai.token.type"]: p.value for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": response.usage.input_tokens, "output": response.usage.output_tokens}
    assert sum(p.value for p in metrics["kagura.llm.queue_wait"]) >= 0
    assert sum(p.value for p in metrics["kagura.llm.calls"]) == 1
    assert sum(p.value for p in metrics["kagura.llm.duration"]) >= 0


@pytest.mark.looptime
async def test_a_rate_limit_wait_is_an_event_and_a_failed_call_marks_its_span() -> None:
    otel = Otel()
    loop = asyncio.get_running_loop()
    async with FakeLLMServer() as server:
        limiter = RateLimiter(requests_per_minute=60, burst=1, clock=loop.time)
        config = _config(server, max_attempts=1, adaptive=False)
        async with LLMClient(config, limiter=limiter, telemetry=otel.telemetry, clock=loop.time) as client:
            await client.complete("first")
            server.fail_next(429, 1, retry_after=0)
            with pytest.raises(RateLimitedError):
                await client.complete("second")  # waits a second for the limiter, then is refused
    spans = otel.spans.get_finished_spans()
    calls = [s for s in spans if "kagura.attempt" not in s.attributes]
    assert len(calls) == 2 and len(spans) == 4
    assert [e.name for e in calls[0].events] == []
    (wait,) = [e for e in calls[1].events if e.name == "kagura.rate_limit.wait"]
    assert wait.attributes["kagura.wait_s"] == pytest.approx(1.0, abs=0.05)
    assert calls[1].attributes["error.type"] == "RateLimitedError"
    assert not calls[1].status.is_ok
    waits = otel.metrics()["kagura.llm.queue_wait"]
    assert sum(p.value for p in waits) == pytest.approx(1.0, abs=0.05)


async def test_disabled_telemetry_makes_no_spans() -> None:
    otel = Otel()
    off = Telemetry(tracer_provider=otel.telemetry._tracer_provider, enabled=False)
    async with FakeLLMServer() as server:
        async with LLMClient(_config(server), telemetry=off) as client:
            await client.complete("quiet")
    assert otel.spans.get_finished_spans() == ()
    with pytest.raises(TypeError, match="Telemetry"):
        LLMClient(_config(server), telemetry=object())  # type: ignore[arg-type]


async def test_a_stream_is_one_call_span_with_a_span_per_attempt() -> None:
    otel = Otel()
    async with FakeLLMServer() as server:
        server.fail_next(429, 1, retry_after=0)
        async with LLMClient(_config(server), prices=PRICES, telemetry=otel.telemetry) as client:
            text = "".join([d async for d in client.stream("stream it")])
            stream = client.stream("stop early")
            first = await stream.__anext__()
            await stream.aclose()  # the consumer stops reading: not a failure
    assert text == "fake answer: stream it" and first == "fake"
    spans = otel.spans.get_finished_spans()
    calls = [s for s in spans if "kagura.attempt" not in s.attributes]
    attempts = [s for s in spans if "kagura.attempt" in s.attributes]
    assert len(calls) == 2 and len(attempts) == 3
    streamed = calls[0] if calls[0].attributes.get("kagura.attempts") == 2 else calls[1]
    mine = [a for a in attempts if a.parent is not None and a.parent.span_id == streamed.context.span_id]
    assert [a.attributes.get("error.type") for a in mine] == ["RateLimitedError", None]
    assert (
        streamed.attributes["gen_ai.usage.output_tokens"] > 0 and streamed.attributes["kagura.cost_usd"] > 0
    )
    closed = next(c for c in calls if c is not streamed)
    assert closed.attributes["kagura.stream_closed"] is True and closed.status.is_ok


async def test_attributes_made_once_per_model_stay_per_call_and_metrics_stay_per_model() -> None:
    # span attribute dicts and metric tallies are built once per (provider, model) and reused: each
    # call's span still carries its own settings and outcome, and each model keeps its own metrics
    otel = Otel()
    async with FakeLLMServer() as server:
        config = _config(server, max_attempts=1, adaptive=False)
        other = dataclasses.replace(config, model="fake-2", temperature=0.5, max_tokens=64)
        async with LLMClient(config, prices=PRICES, telemetry=otel.telemetry) as client:
            server.fail_next(500, 1)
            with pytest.raises(Exception, match=r"."):
                await client.complete("fails")
            await client.complete("works")
            await client.complete("other model", config=other)
            await client.complete("works again")
    spans = otel.spans.get_finished_spans()
    calls = [s for s in spans if "kagura.attempt" not in s.attributes]
    attempts = [s for s in spans if "kagura.attempt" in s.attributes]
    assert [c.name for c in calls] == ["chat fake", "chat fake", "chat fake-2", "chat fake"]
    assert [a.name for a in attempts] == ["chat fake #1"] * 2 + ["chat fake-2 #1", "chat fake #1"]
    failed, works, second, again = calls
    assert failed.attributes["error.type"] and not failed.status.is_ok
    assert "error.type" not in works.attributes and "error.type" not in again.attributes
    assert "error.type" not in attempts[1].attributes and attempts[0].attributes["error.type"]
    assert works.attributes["gen_ai.usage.output_tokens"] > 0 and "max_tokens" not in str(works.attributes)
    assert second.attributes["gen_ai.request.model"] == "fake-2"
    assert second.attributes["gen_ai.request.temperature"] == 0.5
    assert second.attributes["gen_ai.request.max_tokens"] == 64
    assert attempts[2].attributes["gen_ai.request.model"] == "fake-2"
    assert again.attributes["gen_ai.request.temperature"] == 0.0

    metrics = otel.metrics()

    def by_model(name: str, **match: Any) -> dict[str, float]:
        points = [p for p in metrics[name] if all(p.attributes.get(k) == v for k, v in match.items())]
        return {p.attributes["gen_ai.request.model"]: p.value for p in points}

    assert by_model("kagura.llm.calls") == {"fake": 3, "fake-2": 1}
    assert by_model("kagura.llm.requests", **{"kagura.outcome": "ok"}) == {"fake": 2, "fake-2": 1}
    assert by_model("kagura.llm.requests", **{"kagura.outcome": "error"}) == {"fake": 1}
    assert by_model("kagura.llm.in_flight") == {"fake": 0, "fake-2": 0}
    assert "kagura.llm.rate_limited" not in metrics  # no 429: no point at all
    assert set(by_model("kagura.llm.cost")) == {"fake"}  # fake-2 has no price: no cost point
