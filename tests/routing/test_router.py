"""AgentRouter with the intent strategy: registration, keyword boundaries, thresholds, fallback, run."""

from __future__ import annotations

import pytest

from kagura.errors import NoAgentFoundError
from kagura.routing import AgentRouter
from kagura.routing._text import find_keyword, normalize


def test_check_does_not_match_checkout() -> None:
    assert find_keyword(normalize("Go to checkout now"), "check") == -1
    assert find_keyword(normalize("Please check my order"), "check") == 7
    assert find_keyword(normalize("CHECK!"), "check") == 0


def test_cjk_keywords_match_as_substrings_and_latin_next_to_cjk_is_a_boundary() -> None:
    assert find_keyword(normalize("この文を英語に翻訳して"), "翻訳") == 7
    assert find_keyword(normalize("Pythonで書いて"), "python") == 0
    assert find_keyword(normalize("ＰＹＴＨＯＮで"), "python") == 0  # full width folded by NFKC


async def test_intent_routes_on_word_boundaries_not_substrings() -> None:
    router = AgentRouter("intent")
    router.register(lambda q: q, name="status", intents=["check", "status"])
    router.register(lambda q: q, name="shop", intents=["checkout", "cart"])
    assert await router.route("check the server status") == "status"
    assert await router.route("proceed to checkout") == "shop"
    with pytest.raises(NoAgentFoundError):
        await router.route("rechecking everything")


async def test_japanese_intents() -> None:
    router = AgentRouter("intent")
    router.register(lambda q: q, name="translator", intents=["translate", "翻訳"])
    router.register(lambda q: q, name="weather", intents=["weather", "天気"])
    assert await router.route("明日の東京の天気を教えて") == "weather"
    assert await router.route("この文を英語に翻訳して") == "translator"


async def test_candidates_are_scored_and_ordered() -> None:
    router = AgentRouter("intent")
    router.register(lambda q: q, name="a", intents=["alpha"])
    router.register(lambda q: q, name="b", intents=["beta", "gamma"])
    router.register(lambda q: q, name="c", intents=["delta"])
    ranked = await router.candidates("alpha beta gamma", top_k=3)
    assert ranked == [("b", 0.75), ("a", 0.5), ("c", 0.0)]
    assert await router.candidates("alpha beta gamma", top_k=1) == [("b", 0.75)]


async def test_ties_go_to_the_earliest_keyword() -> None:
    router = AgentRouter("intent")
    router.register(lambda q: q, name="search", intents=["find"])
    router.register(lambda q: q, name="email", intents=["email"])
    assert await router.route("email it to me — find the cheapest flight") == "email"
    assert await router.route("find the flight and email it") == "search"


async def test_threshold_and_fallback() -> None:
    router = AgentRouter("intent", threshold=0.7, fallback="general")
    router.register(lambda q: q, name="math", intents=["plus", "minus"])
    assert await router.route("2 plus 3 minus 1") == "math"  # two keywords: 0.75
    assert await router.route("2 plus 3") == "general"  # one keyword: 0.5 < 0.7
    strict = AgentRouter("intent", threshold=0.7)
    strict.register(lambda q: q, name="math", intents=["plus"])
    with pytest.raises(NoAgentFoundError, match=r"confidence >= 0\.7"):
        await strict.route("2 plus 3")


async def test_register_as_decorator_with_defaults_and_run() -> None:
    router = AgentRouter("intent")
    calls: list[tuple[str, str]] = []

    @router.register(intents=["greet", "hello"])
    async def greeter(query: str, punctuation: str = "!") -> str:
        """Says hello back."""
        calls.append(("greeter", query))
        return f"hi{punctuation}"

    assert greeter.__name__ == "greeter"  # the decorator returns the function
    spec = router.agents["greeter"]
    assert spec.description == "Says hello back."
    assert await router.route("hello there") == "greeter"
    assert calls == []  # route executes nothing
    assert await router.run("hello there", punctuation="?") == "hi?"
    assert calls == [("greeter", "hello there")]


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        AgentRouter("magic")
    with pytest.raises(ValueError, match="threshold"):
        AgentRouter("intent", threshold=1.5)
    with pytest.raises(ValueError, match="llm="):
        AgentRouter("llm")
    router = AgentRouter("intent")
    with pytest.raises(TypeError, match="callable"):
        router.register("not a function", name="x")  # type: ignore[call-overload]
    router.register(lambda q: q, name="x", intents=["x"])
    with pytest.raises(ValueError, match="already registered"):
        router.register(lambda q: q, name="x")
    with pytest.raises(TypeError, match="intents"):
        router.register(lambda q: q, name="y", intents=["ok", ""])
    with pytest.raises(TypeError, match="intents must be a string or a list of strings, got int"):
        router.register(lambda q: q, name="y", intents=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="samples must be a string or a list of strings, got dict"):
        router.register(lambda q: q, name="y", samples={"a": 1})  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="description must be a string, got list"):
        router.register(lambda q: q, name="y", description=["x"])  # type: ignore[call-overload]
    assert "y" not in router.agents  # nothing half-registered


async def test_route_errors() -> None:
    router = AgentRouter("intent")
    with pytest.raises(NoAgentFoundError, match="register"):
        await router.route("anything")
    router.register(lambda q: q, name="x", intents=["x"])
    with pytest.raises(ValueError, match="empty"):
        await router.route("   ")
    with pytest.raises(ValueError, match="top_k"):
        await router.candidates("x", top_k=0)
    with pytest.raises(NoAgentFoundError, match="nope"):
        await router.execute("nope", "x")
