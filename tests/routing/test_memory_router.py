"""MemoryAwareRouter: the speculative protocol, equivalence with the serial protocol, side effects."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kagura.errors import NoAgentFoundError
from kagura.routing import AgentRouter, ContextAnalyzer, ConversationMemory, MemoryAwareRouter, QueryContext

from .conftest import ListMemory, make_router


async def test_memory_aware_router_parallel(dataset: dict[str, Any]) -> None:
    """Over the labelled set: speculative == serial decision for every conversation; labels mostly met."""
    conversations = dataset["conversations"]
    assert len(conversations) >= 150
    kinds = Counter(c["kind"] for c in conversations)
    assert {
        "follow-up",
        "pronoun",
        "dummy",
        "standalone",
        "another",
        "conditional",
        "ellipsis",
        "other-one",
        "hard-negative",
        "ja-follow-up",
        "ja-pronoun",
        "ja-standalone",
        "ja-demonstrative",
        "ja-another",
        "ja-ellipsis",
        "ja-conditional",
        "ja-hard-negative",
    } <= set(kinds)
    paths: Counter[str] = Counter()
    wrong = []
    for conv in conversations:
        router = make_router(dataset)
        memory = ListMemory(conv["history"])
        aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=memory), memory=memory)
        parallel = await aware.decide(conv["query"])
        serial = await aware.decide(conv["query"], speculative=False)
        assert parallel.agent == serial.agent, conv["id"]
        assert parallel.query == serial.query, conv["id"]
        assert await aware.route(conv["query"]) == await aware.route_serial(conv["query"])
        if parallel.agent != conv["expected"]:
            wrong.append(conv["id"])
        paths[parallel.path] += 1
        assert router.calls == [], "route must execute no agent"  # type: ignore[attr-defined]
        assert memory.writes == [], "route must not write memory"
    assert paths["direct"] and paths["preliminary"] and paths["enhanced"]
    # offline (keywords + local composition) 185 of 188 labels were met when the set was written: a missed
    # follow-up without a cue, a false alarm whose borrowed turn outvotes the query, and a weather question
    # without a weather keyword
    assert len(wrong) <= 0.03 * len(conversations), wrong


class Probe:
    """An analyzer and a router in one, whose steps are forced in order with events."""

    def __init__(self, *, enhance: bool = False) -> None:
        self.log: list[str] = []
        self.analysis_started = asyncio.Event()
        self.route_started = asyncio.Event()
        self.enhance = enhance

    async def analyze(self, query: str) -> QueryContext:
        self.log.append("analyze:start")
        self.analysis_started.set()
        await self.route_started.wait()  # cannot finish unless routing started meanwhile
        self.log.append("analyze:end")
        if self.enhance:
            return QueryContext(True, f"{query} (enhanced)", "test")
        return QueryContext(False, None, "test")

    async def route(self, query: str) -> str:
        self.log.append(f"route:start:{query}")
        self.route_started.set()
        await self.analysis_started.wait()  # cannot finish unless analysis started meanwhile
        self.log.append(f"route:end:{query}")
        return "enhanced-agent" if query.endswith("(enhanced)") else "plain-agent"


async def test_routing_performance_improvement() -> None:
    """The overlap behind the speed claim: both branches start before either finishes."""
    probe = Probe()
    aware = MemoryAwareRouter(router=probe, analyzer=probe, cheap_check=lambda q: True)
    async with asyncio.timeout(5):  # only a deadlock (serial execution) could reach this
        assert await aware.route("what about it?") == "plain-agent"
    starts = [i for i, step in enumerate(probe.log) if ":start" in step]
    ends = [i for i, step in enumerate(probe.log) if ":end" in step]
    assert len(starts) == 2 and len(ends) == 2
    assert max(starts) < min(ends)


@pytest.mark.looptime
async def test_virtual_time_one_round_trip_when_no_enhancement_two_when_enhanced() -> None:
    class Slow:
        def __init__(self, enhance: bool) -> None:
            self.enhance = enhance

        async def analyze(self, query: str) -> QueryContext:
            await asyncio.sleep(1.5)
            return QueryContext(self.enhance, f"{query}!" if self.enhance else None, "")

        async def route(self, query: str) -> str:
            await asyncio.sleep(1.5)
            return query

    loop = asyncio.get_running_loop()
    for enhance, speculative, expected in [
        (False, True, 1.5),
        (False, False, 3.0),
        (True, True, 3.0),
        (True, False, 3.0),
    ]:
        slow = Slow(enhance)
        aware = MemoryAwareRouter(router=slow, analyzer=slow, cheap_check=lambda q: True)
        start = loop.time()
        await aware.decide("q", speculative=speculative)
        assert loop.time() - start == pytest.approx(expected), (enhance, speculative)


async def test_enhanced_decision_replaces_the_preliminary_one_and_cancels_it() -> None:
    probe = Probe(enhance=True)
    aware = MemoryAwareRouter(router=probe, analyzer=probe, cheap_check=lambda q: True)
    decision = await aware.decide("it")
    assert decision.agent == "enhanced-agent"
    assert decision.path == "enhanced"
    assert decision.query == "it (enhanced)"
    assert "route:start:it (enhanced)" in probe.log


async def test_cheap_check_false_means_one_route_call_and_no_analysis() -> None:
    calls: list[str] = []

    class Recorder:
        async def analyze(self, query: str) -> QueryContext:
            calls.append("analyze")
            return QueryContext(False)

        async def route(self, query: str) -> str:
            calls.append("route")
            return "x"

    recorder = Recorder()
    aware = MemoryAwareRouter(router=recorder, analyzer=recorder, cheap_check=lambda q: False)
    decision = await aware.decide("hello")
    assert (decision.agent, decision.path, calls) == ("x", "direct", ["route"])


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("failing", ["analyze", "route"])
async def test_failure_surfaces_and_the_sibling_is_cancelled(failing: str) -> None:
    sibling_started = asyncio.Event()
    cancelled: list[str] = []

    class Half:
        async def _fail(self) -> Any:
            await sibling_started.wait()
            raise Boom(failing)

        async def _hang(self, name: str) -> Any:
            sibling_started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

        async def analyze(self, query: str) -> Any:
            return await (self._fail() if failing == "analyze" else self._hang("analyze"))

        async def route(self, query: str) -> str:
            return await (self._fail() if failing == "route" else self._hang("route"))

    half = Half()
    aware = MemoryAwareRouter(router=half, analyzer=half, cheap_check=lambda q: True)
    with pytest.raises(Boom, match=failing):
        await aware.route("that one")
    assert cancelled == [{"analyze": "route", "route": "analyze"}[failing]]


async def test_cancelling_the_caller_cancels_both_branches() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    class Hang:
        async def _hang(self, name: str) -> Any:
            try:
                started.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

        async def analyze(self, query: str) -> Any:
            return await self._hang("analyze")

        async def route(self, query: str) -> str:
            return await self._hang("route")

    hang = Hang()
    aware = MemoryAwareRouter(router=hang, analyzer=hang, cheap_check=lambda q: True)
    task = asyncio.ensure_future(aware.route("it"))
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["analyze", "route"]


async def test_run_executes_only_the_final_agent_once_and_records_memory_once(
    dataset: dict[str, Any],
) -> None:
    router = make_router(dataset)
    memory = ListMemory([{"role": "user", "content": "Translate 'hello' to French"}])

    class Rewriter:
        """Says the query needs the translator's context; the preliminary route would pick 'weather'."""

        async def analyze(self, query: str) -> QueryContext:
            return QueryContext(True, "Translate 'is it raining' to Spanish", "test")

    aware = MemoryAwareRouter(router=router, analyzer=Rewriter(), memory=memory, cheap_check=lambda q: True)
    assert await router.route("Is it raining?") == "weather"  # what the speculative branch decides
    result = await aware.run("Is it raining?")
    assert router.calls == [("translator", "Translate 'is it raining' to Spanish")]  # type: ignore[attr-defined]
    assert result == "translator handled: Translate 'is it raining' to Spanish"
    assert [(t.role, t.content, t.agent) for t in memory.writes] == [
        ("user", "Is it raining?", None),
        ("assistant", result, "translator"),
    ]


async def test_follow_up_resolution_end_to_end(dataset: dict[str, Any]) -> None:
    """ "Translate 'hello' to French" -> "What about Spanish?" -> translator, through run() and memory."""
    router = make_router(dataset)
    memory = ListMemory()
    aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=memory), memory=memory)
    await aware.run("Translate 'hello' to French")
    assert await aware.route("What about Spanish?") == "translator"
    await aware.run("What about Spanish?")
    assert [name for name, _ in router.calls] == ["translator", "translator"]  # type: ignore[attr-defined]
    assert "What about Spanish?" in router.calls[1][1]  # type: ignore[attr-defined]
    assert len(memory.writes) == 4
    assert await aware.route("Is it raining?") == "weather"


async def test_agent_failure_records_nothing(dataset: dict[str, Any]) -> None:
    router = AgentRouter("intent")

    def broken(query: str) -> str:
        raise Boom("agent")

    router.register(broken, name="broken", intents=["break"])
    memory = ListMemory()
    aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=memory), memory=memory)
    with pytest.raises(Boom):
        await aware.run("break it")
    assert memory.writes == []


async def test_enhance_query_prefers_the_rewrite_then_composes_history() -> None:
    aware = MemoryAwareRouter(router=AgentRouter("intent"), analyzer=ContextAnalyzer())
    assert aware.enhance_query("q", QueryContext(True, "rewritten", "")) == "rewritten"
    assert aware.enhance_query(
        "What about Spanish?", QueryContext(True, None, "", ("Translate hi to French",))
    ) == ("What about Spanish? — Translate hi to French")
    assert aware.enhance_query("q", QueryContext(True, None, "")) == "q"


async def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="route"):
        MemoryAwareRouter(router=object(), analyzer=ContextAnalyzer())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="analyze"):
        MemoryAwareRouter(router=AgentRouter(), analyzer=object())

    class RouteOnly:
        async def route(self, query: str) -> str:
            return "x"

    aware = MemoryAwareRouter(router=RouteOnly(), analyzer=ContextAnalyzer())
    with pytest.raises(TypeError, match="execute"):
        await aware.run("hello")
    with pytest.raises(ValueError, match="empty"):
        await aware.route("")


async def test_no_agent_for_the_raw_query_is_a_decision_not_a_failure(dataset: dict[str, Any]) -> None:
    """Without a fallback, speculative and serial agree on errors too, over the labelled set."""
    router = AgentRouter("intent")  # no fallback: raw follow-ups like "What about Spanish?" match nothing
    for name, spec in dataset["agents"].items():
        router.register(lambda q: q, name=name, **spec)
    outcomes: Counter[str] = Counter()
    for conv in dataset["conversations"]:
        memory = ListMemory(conv["history"])
        aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=memory))
        results = []
        for speculative in (True, False):
            try:
                results.append((await aware.decide(conv["query"], speculative=speculative)).agent)
            except NoAgentFoundError as exc:
                results.append(type(exc))
        assert results[0] == results[1], conv["id"]
        outcomes["error" if results[0] is NoAgentFoundError else "agent"] += 1
        outcomes["off-label"] += results[0] not in (conv["expected"], NoAgentFoundError)
    assert outcomes["error"] >= 1  # the no-history "What about Spanish?"
    assert outcomes["off-label"] <= 0.03 * len(dataset["conversations"])
    assert (
        await MemoryAwareRouter(
            router=router, analyzer=ContextAnalyzer(memory=ListMemory(dataset["conversations"][0]["history"]))
        ).route("What about Spanish?")
        == "translator"
    )


async def test_a_held_no_agent_error_surfaces_when_the_analysis_adds_nothing() -> None:
    router = AgentRouter("intent")
    router.register(lambda q: q, name="translator", intents=["translate"])
    aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=ListMemory()))
    with pytest.raises(NoAgentFoundError):
        await aware.route("What about Spanish?")


async def test_run_with_conversation_memory_on_sqlite(dataset: dict[str, Any], tmp_path: Path) -> None:
    """The whole chain on a real store: follow-up resolved from persisted turns, each run recorded once."""
    path = tmp_path / "conversations.db"
    router = make_router(dataset)
    memory = ConversationMemory(path, session_id="alice")
    aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=memory), memory=memory)
    await aware.run("Translate 'hello' to French")
    memory.close()

    reopened = ConversationMemory(path, session_id="alice")
    aware = MemoryAwareRouter(router=router, analyzer=ContextAnalyzer(memory=reopened), memory=reopened)
    assert await aware.route("What about Spanish?") == "translator"
    await aware.run("What about Spanish?")
    turns = await reopened.recent(10)
    assert [(t.role, t.agent) for t in turns] == [
        ("user", None),
        ("assistant", "translator"),
        ("user", None),
        ("assistant", "translator"),
    ]
    assert [t.content for t in turns if t.role == "user"] == [
        "Translate 'hello' to French",
        "What about Spanish?",
    ]
    assert len(router.calls) == 2  # type: ignore[attr-defined]
    other = ConversationMemory(path, session_id="bob")
    assert await ContextAnalyzer(memory=other).analyze("What about Spanish?") == QueryContext(
        False, None, "no conversation history"
    )
    reopened.close()
    other.close()


async def test_speculative_false_switch_uses_the_serial_protocol() -> None:
    probe = Probe()
    serial = MemoryAwareRouter(router=probe, analyzer=probe, cheap_check=lambda q: True, speculative=False)
    task = asyncio.ensure_future(serial.route("it"))
    await probe.analysis_started.wait()
    await asyncio.sleep(0)
    assert probe.log == ["analyze:start"]  # the serial protocol does not route before the analysis ends
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
