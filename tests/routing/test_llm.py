"""The llm strategy and LLM query rewriting, over HTTP against the loopback FakeLLMServer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kagura.core.llm import LLMConfig
from kagura.errors import NoAgentFoundError, ServerError
from kagura.routing import AgentRouter, ContextAnalyzer, MemoryAwareRouter
from kagura.routing._context import REWRITE_SYSTEM
from kagura.routing._llm_strategy import SYSTEM as ROUTING_SYSTEM
from kagura.testing import FakeLLMServer

from .conftest import ListMemory

HELLO = [
    {"role": "user", "content": "Translate 'hello' to French"},
    {"role": "assistant", "content": "Bonjour"},
]


def config(server: FakeLLMServer, **kwargs: Any) -> LLMConfig:
    return LLMConfig(model="fake", base_url=server.base_url, api_key="test", **kwargs)


def agents(llm: LLMConfig, **kwargs: Any) -> AgentRouter:
    router = AgentRouter("llm", llm=llm, **kwargs)
    router.register(lambda q: f"translated {q}", name="translator", description="Translates text")
    router.register(lambda q: f"forecast {q}", name="weather", description="Weather forecasts")
    return router


def system_of(messages: list[dict[str, Any]]) -> str:
    return next((m["content"] for m in messages if m["role"] == "system"), "")


async def test_llm_strategy_picks_a_registered_agent_from_a_constrained_prompt() -> None:
    async with FakeLLMServer(responder=lambda messages: " `Weather`.\n") as server:
        router = agents(config(server))
        assert await router.route("Will it rain in Kyoto?") == "weather"
        assert await router.candidates("Will it rain in Kyoto?", top_k=2) == [
            ("weather", 1.0),
            ("translator", 0.0),
        ]
        messages = server.received[0]["messages"]
        assert system_of(messages) == ROUTING_SYSTEM
        prompt = messages[-1]["content"]
        assert "- translator: Translates text" in prompt and "- weather: Weather forecasts" in prompt
        assert "Request: Will it rain in Kyoto?" in prompt


async def test_llm_answers_outside_the_registry_are_rejected() -> None:
    async with FakeLLMServer(responder=lambda messages: "pizza_bot") as server:
        with pytest.raises(NoAgentFoundError):
            await agents(config(server)).route("Order a pizza")
        assert await agents(config(server), fallback="translator").route("Order a pizza") == "translator"
    async with FakeLLMServer(responder=lambda messages: "NONE") as server:
        with pytest.raises(NoAgentFoundError):
            await agents(config(server)).route("Sing a song")


async def test_llm_rewrite_of_a_follow_up() -> None:
    async with FakeLLMServer(responder=lambda messages: "Translate 'hello' to Spanish") as server:
        analyzer = ContextAnalyzer(memory=ListMemory(HELLO), llm=config(server))
        context = await analyzer.analyze("What about Spanish?")
        assert context.needs_enhancement is True
        assert context.enhanced_query == "Translate 'hello' to Spanish"
        messages = server.received[0]["messages"]
        assert system_of(messages) == REWRITE_SYSTEM
        assert "user: Translate 'hello' to French\nassistant: Bonjour" in messages[-1]["content"]
        assert "Latest message: What about Spanish?" in messages[-1]["content"]


@pytest.mark.parametrize("answer", ["NONE", "none.", "What about Spanish?", "  what about spanish? "])
async def test_llm_none_or_unchanged_means_no_enhancement(answer: str) -> None:
    async with FakeLLMServer(responder=lambda messages: answer) as server:
        context = await ContextAnalyzer(memory=ListMemory(HELLO), llm=config(server)).analyze(
            "What about Spanish?"
        )
        assert context.needs_enhancement is False and context.enhanced_query is None


async def test_self_contained_queries_cost_no_llm_call() -> None:
    async with FakeLLMServer(responder=lambda messages: "SHOULD NOT BE ASKED") as server:
        analyzer = ContextAnalyzer(memory=ListMemory(HELLO), llm=config(server))
        assert (await analyzer.analyze("Is it raining?")).needs_enhancement is False
        assert (await analyzer.analyze("Translate 'cat' to German")).needs_enhancement is False
        assert server.stats.requests == 0
        always = ContextAnalyzer(memory=ListMemory(HELLO), llm=config(server), always_ask_llm=True)
        assert (await always.analyze("Is it raining?")).enhanced_query == "SHOULD NOT BE ASKED"
        assert server.stats.requests == 1


async def test_memory_aware_router_over_http_overlaps_analysis_and_routing() -> None:
    """Both LLM calls are in flight at once: each answer waits until the other request has arrived."""
    arrived = {"route": asyncio.Event(), "rewrite": asyncio.Event()}

    async def responder(messages: list[dict[str, Any]]) -> str:
        if system_of(messages) == ROUTING_SYSTEM:
            arrived["route"].set()
            await arrived["rewrite"].wait()
            return "translator" if "Translate" in messages[-1]["content"] else "NONE"
        arrived["rewrite"].set()
        await arrived["route"].wait()
        return "Translate 'hello' to Spanish"

    async with FakeLLMServer(responder=responder) as server:
        llm = config(server)
        memory = ListMemory(HELLO)
        router = agents(llm)
        aware = MemoryAwareRouter(
            router=router, analyzer=ContextAnalyzer(memory=memory, llm=llm), memory=memory
        )
        async with asyncio.timeout(30):  # reached only if the calls were serialised (deadlock)
            result = await aware.run("What about Spanish?")
        assert result == "translated Translate 'hello' to Spanish"
        assert server.stats.max_in_flight == 2
        assert [(t.role, t.agent) for t in memory.writes] == [("user", None), ("assistant", "translator")]


async def test_an_llm_failure_surfaces_unchanged() -> None:
    async with FakeLLMServer(responder=lambda messages: "translator") as server:
        llm = config(server, max_attempts=1)
        aware = MemoryAwareRouter(
            router=agents(llm), analyzer=ContextAnalyzer(memory=ListMemory(HELLO), llm=llm)
        )
        server.fail_next(500, count=2)
        with pytest.raises(ServerError):
            await aware.route("What about Spanish?")


async def test_router_and_analyzer_call_through_the_client_given() -> None:
    from kagura.core.llm import LLMClient
    from kagura.testing import FakeProvider

    answers = {"route": "weather", "rewrite": "Translate 'goodbye' to French"}
    fake = FakeProvider(lambda request: answers["rewrite" if "Rewritten" in request.prompt else "route"])
    client = LLMClient(LLMConfig(model="m"), provider=fake)
    router = agents(client)  # type: ignore[arg-type]
    assert await router.route("Will it rain?") == "weather"
    analyzer = ContextAnalyzer(memory=ListMemory(HELLO), llm=client)
    assert analyzer.llm is client
    context = await analyzer.analyze("And goodbye?")
    assert context.enhanced_query == "Translate 'goodbye' to French"
    assert len(fake.requests) == 2  # both calls went through the one client, no HTTP
    with pytest.raises(TypeError, match="LLMClient, an LLMConfig or None"):
        ContextAnalyzer(llm="gpt-4o")
