"""``AgentRouter``: register agents, pick one per query with a strategy, run it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, overload

from kagura._checks import check_int, check_probability
from kagura._extras import import_optional
from kagura.errors import NoAgentFoundError
from kagura.routing._intent import IntentStrategy
from kagura.routing._types import AgentSpec

__all__ = ["STRATEGIES", "AgentRouter", "Strategy"]

F = TypeVar("F", bound=Callable[..., Any])


class Strategy(Protocol):
    """How a router scores agents for a query (0..1, best first)."""

    name: str
    default_threshold: float

    def invalidate(self) -> None: ...

    async def scores(self, query: str, agents: Sequence[AgentSpec]) -> list[tuple[str, float]]: ...


def _intent(embedder: Any, llm: Any) -> Strategy:
    return IntentStrategy()


def _semantic(embedder: Any, llm: Any) -> Strategy:
    module = import_optional("kagura.routing._semantic", "semantic routing")
    return module.SemanticStrategy(embedder)


def _llm(embedder: Any, llm: Any) -> Strategy:
    from kagura.routing._llm_strategy import LLMStrategy

    return LLMStrategy(llm)


#: Strategy name -> factory(embedder, llm).
STRATEGIES: dict[str, Callable[[Any, Any], Strategy]] = {
    "intent": _intent,
    "llm": _llm,
    "semantic": _semantic,
}


def _strings(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, bytes | dict):
        raise TypeError(f"{what} must be a string or a list of strings, got {type(value).__name__}")
    items = tuple(value)
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise TypeError(f"{what} must be non-empty strings, got {items!r}")
    return items


class AgentRouter:
    """Pick a registered agent for a query.

    ``strategy`` is ``"intent"`` (keywords), ``"semantic"`` (local embeddings; ``embedder=`` overrides the
    default MiniLM) or ``"llm"`` (``llm=LLMClient(...)`` or ``LLMConfig(...)`` chooses). ``threshold`` is
    the minimum confidence (default: the strategy's own); below it the ``fallback`` agent is chosen, or
    ``NoAgentFoundError`` is raised when there is none.
    """

    def __init__(
        self,
        strategy: str = "intent",
        *,
        threshold: float | None = None,
        fallback: str | None = None,
        embedder: Any = None,
        llm: Any = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}: use one of {sorted(STRATEGIES)}")
        if threshold is not None:
            check_probability("threshold", threshold)
        self._strategy = STRATEGIES[strategy](embedder, llm)
        self.strategy = strategy
        self.threshold = self._strategy.default_threshold if threshold is None else threshold
        self.fallback = fallback
        self._agents: dict[str, AgentSpec] = {}

    @overload
    def register(
        self,
        fn: F,
        *,
        name: str | None = ...,
        intents: str | Iterable[str] | None = ...,
        samples: str | Iterable[str] | None = ...,
        description: str | None = ...,
    ) -> F: ...

    @overload
    def register(
        self,
        fn: None = ...,
        *,
        name: str | None = ...,
        intents: str | Iterable[str] | None = ...,
        samples: str | Iterable[str] | None = ...,
        description: str | None = ...,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        fn: Any = None,
        *,
        name: str | None = None,
        intents: str | Iterable[str] | None = None,
        samples: str | Iterable[str] | None = None,
        description: str | None = None,
    ) -> Any:
        """Register ``fn`` as an agent; without ``fn``, return a decorator doing it.

        ``name`` defaults to the function's ``__name__``, ``description`` to its docstring's first line.
        """
        if fn is None:
            return lambda f: self.register(
                f, name=name, intents=intents, samples=samples, description=description
            )
        if not callable(fn):
            raise TypeError(f"an agent must be callable, got {type(fn).__name__}")
        agent_name = name or getattr(fn, "__name__", None)
        if not agent_name or not isinstance(agent_name, str):
            raise ValueError("could not infer the agent name: pass name=...")
        if agent_name in self._agents:
            raise ValueError(f"an agent named {agent_name!r} is already registered")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be a string, got {type(description).__name__}")
        doc = (inspect.getdoc(fn) or "").strip().splitlines()
        self._agents[agent_name] = AgentSpec(
            name=agent_name,
            fn=fn,
            intents=_strings(intents, "intents"),
            samples=_strings(samples, "samples"),
            description=description if description is not None else (doc[0] if doc else ""),
        )
        self._strategy.invalidate()
        return fn

    @property
    def agents(self) -> dict[str, AgentSpec]:
        """The registered agents by name (a copy)."""
        return dict(self._agents)

    async def candidates(self, query: str, top_k: int = 3) -> list[tuple[str, float]]:
        """The ``top_k`` best agents for ``query`` with their 0..1 confidence, best first."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        check_int("top_k", top_k)
        return (await self._strategy.scores(query, list(self._agents.values())))[:top_k]

    async def route(self, query: str) -> str:
        """The chosen agent's name. Executes nothing."""
        if not query or not query.strip():
            raise ValueError("query is empty: pass the user's request text")
        if not self._agents and self.fallback is None:
            raise NoAgentFoundError("no agent is registered: call register() first")
        best = await self.candidates(query, top_k=1) if self._agents else []
        if best and best[0][1] >= self.threshold:
            return best[0][0]
        if self.fallback is not None:
            return self.fallback
        score = f"{best[0][1]:.2f}" if best else "none"
        raise NoAgentFoundError(
            f"no agent matched {query!r} with confidence >= {self.threshold} (best {score}); "
            "register more intents/samples, lower threshold=, or set fallback="
        )

    async def execute(self, name: str, query: str, *args: Any, **kwargs: Any) -> Any:
        """Call agent ``name`` with ``(query, *args, **kwargs)``, awaiting it when it is async."""
        try:
            spec = self._agents[name]
        except KeyError:
            raise NoAgentFoundError(f"no agent named {name!r} is registered") from None
        result = spec.fn(query, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def run(self, query: str, *args: Any, **kwargs: Any) -> Any:
        """Route ``query`` and run the chosen agent once with ``(query, *args, **kwargs)``."""
        return await self.execute(await self.route(query), query, *args, **kwargs)
