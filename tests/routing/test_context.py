"""ContextAnalyzer without an LLM: local rules and local composition."""

from __future__ import annotations

import pytest

from kagura.routing import ContextAnalyzer, QueryContext

from .conftest import ListMemory

HELLO = [
    {"role": "user", "content": "Translate 'hello' to French"},
    {"role": "assistant", "content": "Bonjour"},
]


async def test_is_it_raining_is_not_enhanced_even_with_history() -> None:
    analyzer = ContextAnalyzer(memory=ListMemory(HELLO))
    assert analyzer.might_need_context("Is it raining?")  # the cheap check fires...
    context = await analyzer.analyze("Is it raining?")
    assert context.needs_enhancement is False  # ...but the analysis sees a dummy subject
    assert context.enhanced_query is None
    assert "self-contained" in context.reason


async def test_follow_up_composes_the_last_relevant_turn() -> None:
    analyzer = ContextAnalyzer(memory=ListMemory(HELLO))
    context = await analyzer.analyze("What about Spanish?")
    assert context == QueryContext(
        True,
        "What about Spanish? — Translate 'hello' to French",
        "follow-up cue: what about",
        ("Translate 'hello' to French",),
    )


async def test_chain_of_follow_ups_anchors_on_the_self_contained_turn() -> None:
    memory = ListMemory(
        [
            *HELLO,
            {"role": "user", "content": "What about Spanish?"},
            {"role": "assistant", "content": "Hola"},
        ]
    )
    context = await ContextAnalyzer(memory=memory).analyze("And German too?")
    assert context.enhanced_query == "And German too? — Translate 'hello' to French"


async def test_no_cue_no_history_and_no_memory_mean_no_enhancement() -> None:
    with_history = ContextAnalyzer(memory=ListMemory(HELLO))
    assert (await with_history.analyze("Translate 'cat' to German")).needs_enhancement is False
    empty = ContextAnalyzer(memory=ListMemory())
    assert (await empty.analyze("What about Spanish?")).reason == "no conversation history"
    assert (await ContextAnalyzer().analyze("What about Spanish?")).needs_enhancement is False


async def test_history_window_is_respected() -> None:
    memory = ListMemory(
        [*HELLO, {"role": "user", "content": "Order a pizza"}, {"role": "assistant", "content": "ok"}]
    )
    context = await ContextAnalyzer(memory=memory, history_turns=2).analyze("What about Spanish?")
    assert context.history == ("Order a pizza",)


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="history_turns"):
        ContextAnalyzer(history_turns=0)
    with pytest.raises(TypeError, match="str"):
        await ContextAnalyzer().analyze(42)  # type: ignore[arg-type]
