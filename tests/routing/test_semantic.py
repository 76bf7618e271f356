"""The semantic strategy with the real local MiniLM embedder (offline)."""

from __future__ import annotations

from typing import Any

import pytest

from kagura.errors import NoAgentFoundError
from kagura.routing import AgentRouter, ContextAnalyzer, MemoryAwareRouter
from kagura.routing._semantic import ANCHORS, calibrate

from .conftest import ListMemory, make_router


def test_calibration_is_linear_between_the_documented_anchors() -> None:
    floor, ceiling = ANCHORS["latin"]
    assert calibrate(floor) == 0.0
    assert calibrate(ceiling) == 1.0
    assert calibrate((floor + ceiling) / 2) == pytest.approx(0.5)
    assert calibrate(-1.0) == 0.0 and calibrate(1.0) == 1.0
    assert calibrate(0.6, "cjk") < calibrate(0.6, "latin")


@pytest.fixture(scope="module")
def semantic(dataset: dict[str, Any]) -> AgentRouter:
    router = AgentRouter("semantic")
    for name, spec in dataset["agents"].items():
        router.register(lambda q: q, name=name, **spec)
    return router


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("How do I say good evening in Italian?", "translator"),
        ("Is it going to be sunny in Kyoto this weekend?", "weather"),
        ("What is 17 times 23?", "calculator"),
        ("Book a call with the dentist next Tuesday", "calendar"),
        ("Send a message to Sarah about dinner", "email"),
        ("Look for information about the Eiffel tower", "search"),
        ("I need new headphones, get me a pair", "shopping"),
        ("この文章を英語に翻訳して", "translator"),
        ("明日の大阪の天気は？", "weather"),
    ],
)
async def test_semantic_routes_paraphrases_without_keywords(
    semantic: AgentRouter, query: str, expected: str
) -> None:
    assert await semantic.route(query) == expected


async def test_unrelated_queries_fall_below_the_threshold(semantic: AgentRouter) -> None:
    for query in ["asdf qwerty zxcv", "Tell me a joke about penguins", "猫が好きです"]:
        ranked = await semantic.candidates(query, top_k=7)
        assert all(0.0 <= score <= 1.0 for _, score in ranked)
        assert ranked[0][1] < semantic.threshold, (query, ranked)
        with pytest.raises(NoAgentFoundError):
            await semantic.route(query)


async def test_registering_an_agent_refreshes_the_embeddings() -> None:
    router = AgentRouter("semantic", fallback="general")
    router.register(lambda q: q, name="weather", samples=["Will it rain tomorrow?"])
    assert await router.route("Play some jazz music") == "general"
    router.register(lambda q: q, name="music", samples=["Play a song", "Put on some music"])
    assert await router.route("Play some jazz music") == "music"


async def test_semantic_speculative_equals_serial_over_the_labelled_set(dataset: dict[str, Any]) -> None:
    router = make_router(dataset, "semantic")
    sample = dataset["conversations"][::3]  # a spread of every kind; the full set runs with "intent"
    assert {c["kind"] for c in sample} >= {"follow-up", "pronoun", "dummy", "standalone", "ja-follow-up"}
    for conv in sample:
        memory = ListMemory(conv["history"])
        aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=memory))
        assert await aware.route(conv["query"]) == await aware.route_serial(conv["query"]), conv["id"]
