"""Small value types and the protocols the routing layer is written against."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AgentSpec",
    "AnalyzerLike",
    "ContextLike",
    "HistoryLike",
    "QueryContext",
    "RouterLike",
    "RoutingDecision",
    "TurnLike",
]


@dataclass(frozen=True)
class AgentSpec:
    """One registered agent: the callable and what the strategies know about it."""

    name: str
    fn: Callable[..., Any]
    intents: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    description: str = ""

    def texts(self) -> list[str]:
        """The texts the semantic strategy embeds for this agent (samples, then the description)."""
        texts = list(self.samples)
        if self.description:
            texts.append(self.description)
        return texts


@dataclass(frozen=True)
class QueryContext:
    """What a context analysis found out about a query.

    ``needs_enhancement`` says the query cannot be routed on its own; ``enhanced_query`` is the
    self-contained rewrite when the analyzer produced one; ``reason`` is a short human-readable why;
    ``history`` holds the recent user turns the analyzer looked at (oldest first), so a caller can compose
    an enhanced query itself (see ``MemoryAwareRouter.enhance_query``).
    """

    needs_enhancement: bool
    enhanced_query: str | None = None
    reason: str = ""
    history: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class RoutingDecision:
    """The outcome of ``MemoryAwareRouter.decide``.

    ``agent`` is the chosen agent; ``query`` the text it was chosen for (the enhanced query when the
    analysis asked for one, else the original); ``path`` one of ``"direct"`` (the cheap check said no
    context can matter), ``"preliminary"`` (analysis found nothing to add; the concurrent preliminary
    decision was kept) or ``"enhanced"`` (the enhanced query was routed); ``context`` the analysis, if any.
    """

    agent: str
    query: str
    path: str
    context: QueryContext | None = None


class ContextLike(Protocol):
    """What ``MemoryAwareRouter`` reads from an analysis result."""

    @property
    def needs_enhancement(self) -> bool: ...

    @property
    def enhanced_query(self) -> str | None: ...


@runtime_checkable
class RouterLike(Protocol):
    """Anything that picks an agent name for a query."""

    async def route(self, query: str) -> str: ...


@runtime_checkable
class AnalyzerLike(Protocol):
    """Anything that analyses whether a query depends on the conversation."""

    async def analyze(self, query: str) -> Any: ...


class TurnLike(Protocol):
    """One stored conversation turn."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...


class HistoryLike(Protocol):
    """A conversation memory the analyzer can read and ``MemoryAwareRouter.run`` can write."""

    async def recent(self, n: int = 10) -> Sequence[TurnLike]: ...

    async def add_turn(self, role: str, content: str, *, agent: str | None = None) -> Any: ...
