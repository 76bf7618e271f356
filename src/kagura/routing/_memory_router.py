"""``MemoryAwareRouter``: resolve follow-ups from memory while routing speculatively.

The speculative protocol (``decide``):

1. If the cheap check says no context can matter, route the query directly (one call).
2. Otherwise run ``analyzer.analyze(query)`` and ``router.route(query)`` concurrently. If the analysis says
   no enhancement is needed, or the enhanced query equals the original, return that preliminary decision;
   otherwise route the enhanced query and return that (the now useless preliminary call is cancelled if it
   is still running).
3. If either branch fails, the other is cancelled and the error propagates unchanged: there is no silent
   fallback to a guess. One exception: ``NoAgentFoundError`` from the preliminary routing is a decision
   about the raw query, not a failure. The serial protocol would only see it if the analysis finds nothing
   to add, so it is held until the analysis ends: raised then, or discarded when the enhanced query is
   routed instead (this keeps the equivalence below for routers without a fallback).

For a deterministic router this returns exactly what ``route_serial`` (analyse, then route the
enhanced-or-original query) returns, provided the analyzer never enhances a query the cheap check rejects
(``ContextAnalyzer`` guarantees it by default). ``route`` executes no agent; ``run`` executes the chosen
agent once, after the decision is final.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kagura.errors import NoAgentFoundError
from kagura.routing._context import compose
from kagura.routing._types import ContextLike, HistoryLike, RouterLike, RoutingDecision

__all__ = ["MemoryAwareRouter"]


async def _settle(tasks: tuple[asyncio.Future[Any], ...]) -> None:
    """Cancel what is still running, wait for it to finish, and mark every error as retrieved."""
    for task in tasks:
        if not task.done():
            task.cancel()
    pending = [t for t in tasks if not t.done()]
    if pending:
        await asyncio.wait(pending)
    for task in tasks:
        if not task.cancelled():
            task.exception()


class MemoryAwareRouter:
    """Route follow-up queries correctly, paying one round trip in the common case.

    ``router`` has ``async route(query) -> str`` (and ``async execute(name, query, ...)`` for ``run``, as
    ``AgentRouter`` does); ``analyzer`` has ``async analyze(query)`` returning an object with
    ``.needs_enhancement`` and ``.enhanced_query``; ``memory`` (optional) gets the user turn and the agent's
    result once per ``run``; ``cheap_check(query) -> bool`` defaults to the analyzer's
    ``might_need_context`` (or "always" when it has none). ``speculative=False`` makes ``route``/``run`` use
    the serial protocol.
    """

    def __init__(
        self,
        router: RouterLike,
        analyzer: Any,
        memory: HistoryLike | None = None,
        cheap_check: Callable[[str], bool] | None = None,
        *,
        speculative: bool = True,
    ) -> None:
        if not callable(getattr(router, "route", None)):
            raise TypeError("router must have an async route(query) -> str method (e.g. an AgentRouter)")
        if not callable(getattr(analyzer, "analyze", None)):
            raise TypeError("analyzer must have an async analyze(query) method (e.g. a ContextAnalyzer)")
        check: Callable[[str], bool] = (
            cheap_check or getattr(analyzer, "might_need_context", None) or (lambda _query: True)
        )
        self.router = router
        self.analyzer = analyzer
        self.memory = memory
        self.cheap_check = check
        self.speculative = speculative

    def enhance_query(self, query: str, context: Any) -> str:
        """The query to route: the analyzer's rewrite when it gave one, else recent user turns + query."""
        enhanced = getattr(context, "enhanced_query", None)
        if enhanced:
            return enhanced
        return compose(tuple(getattr(context, "history", ()) or ()), query)

    def _target(self, query: str, context: ContextLike) -> str | None:
        """The enhanced query to route instead of ``query``, or None to keep the original decision."""
        if not context.needs_enhancement:
            return None
        enhanced = self.enhance_query(query, context)
        return None if enhanced.strip() == query.strip() else enhanced

    async def decide_serial(self, query: str) -> RoutingDecision:
        """Analyse, then route the enhanced-or-original query (two round trips when both are LLM calls)."""
        context = await self.analyzer.analyze(query)
        target = self._target(query, context)
        if target is None:
            return RoutingDecision(await self.router.route(query), query, "preliminary", context)
        return RoutingDecision(await self.router.route(target), target, "enhanced", context)

    async def decide_speculative(self, query: str) -> RoutingDecision:
        """The speculative protocol described in the module docstring."""
        if not self.cheap_check(query):
            return RoutingDecision(await self.router.route(query), query, "direct", None)
        analysis = asyncio.ensure_future(self.analyzer.analyze(query))
        preliminary = asyncio.ensure_future(self.router.route(query))
        tasks = (analysis, preliminary)
        try:
            pending: set[asyncio.Future[Any]] = set(tasks)
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = task.exception()
                    if error is not None and not (
                        task is preliminary and isinstance(error, NoAgentFoundError)
                    ):
                        raise error
                if not analysis.done():
                    continue
                context = analysis.result()
                target = self._target(query, context)
                if target is not None:
                    preliminary.cancel()
                    return RoutingDecision(await self.router.route(target), target, "enhanced", context)
                if preliminary.done():  # result() re-raises a NoAgentFoundError, as the serial route would
                    return RoutingDecision(preliminary.result(), query, "preliminary", context)
        finally:
            await _settle(tasks)

    async def decide(self, query: str, *, speculative: bool | None = None) -> RoutingDecision:
        """The full decision (agent, routed query, path, analysis)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        if not query.strip():
            raise ValueError("query is empty: pass the user's request text")
        use_speculation = self.speculative if speculative is None else speculative
        if use_speculation:
            return await self.decide_speculative(query)
        return await self.decide_serial(query)

    async def route(self, query: str) -> str:
        """The chosen agent's name. Executes no agent."""
        return (await self.decide(query)).agent

    async def route_serial(self, query: str) -> str:
        """The serial protocol's decision, for comparison and benchmarks."""
        return (await self.decide(query, speculative=False)).agent

    async def run(self, query: str, *args: Any, **kwargs: Any) -> Any:
        """Decide, then execute the chosen agent exactly once with the routed query.

        The agent receives the enhanced query when the analysis produced one (so "What about Spanish?"
        reaches the translator with its antecedent). When the agent returns, ``memory`` records the user's
        original query and the agent's result (as text), once each; nothing is recorded if it fails.
        """
        execute: Callable[..., Awaitable[Any]] | None = getattr(self.router, "execute", None)
        if execute is None or not callable(execute):
            raise TypeError("run() needs a router with async execute(name, query, ...), e.g. an AgentRouter")
        decision = await self.decide(query)
        result = await execute(decision.agent, decision.query, *args, **kwargs)
        if self.memory is not None:
            await self.memory.add_turn("user", query)
            await self.memory.add_turn("assistant", str(result), agent=decision.agent)
        return result
