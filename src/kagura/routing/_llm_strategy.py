"""The ``llm`` strategy: the model picks one registered agent with a constrained prompt.

The prompt lists every agent as ``name: description`` and asks for exactly one name or ``NONE``. The answer
is validated against the registry (case, surrounding quotes, backticks and a trailing period are
tolerated; anything else is not): the chosen agent scores 1.0, every other agent 0.0, and an invalid answer
leaves all at 0.0, so the router falls back or raises ``NoAgentFoundError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kagura.routing._types import AgentSpec

__all__ = ["LLMStrategy", "parse_choice", "routing_prompt"]

SYSTEM = (
    "You are a request router. Choose the single agent best suited to handle the user's request. "
    "Answer with the agent's name exactly as listed and nothing else, or NONE if no agent fits."
)


def routing_prompt(query: str, agents: Sequence[AgentSpec]) -> str:
    """The user message sent to the model."""
    lines = []
    for agent in agents:
        about = agent.description or "; ".join(agent.samples) or ", ".join(agent.intents) or agent.name
        lines.append(f"- {agent.name}: {about}")
    listing = "\n".join(lines)
    return f"Agents:\n{listing}\n\nRequest: {query}\n\nAgent name:"


def parse_choice(answer: str, agents: Sequence[AgentSpec]) -> str | None:
    """The registered agent name the answer designates, or None when it is not exactly one of them."""
    cleaned = answer.strip(" \t\r\n`'\"*.")
    by_lower = {a.name.casefold(): a.name for a in agents}
    return by_lower.get(cleaned.casefold())


def llm_client(llm: Any) -> Any:
    """``llm`` as the :class:`~kagura.core.llm.LLMClient` its calls go through: a client as is, an
    ``LLMConfig`` made into one (once, here at the edge), None as None."""
    if llm is None:
        return None
    from kagura.core.llm import LLMClient, LLMConfig

    if isinstance(llm, LLMClient):
        return llm
    if isinstance(llm, LLMConfig):
        return LLMClient(llm)
    raise TypeError(f"llm must be an LLMClient, an LLMConfig or None, got {type(llm).__name__}")


class LLMStrategy:
    """Ask an LLM (an ``LLMClient``, or an ``LLMConfig`` made into one) which agent should answer."""

    name = "llm"
    default_threshold = 0.5

    def __init__(self, llm: Any) -> None:
        if llm is None:
            raise ValueError('strategy="llm" needs llm=LLMConfig(...): pass the model configuration to use')
        self._llm = llm_client(llm)

    def invalidate(self) -> None:
        """Nothing is cached."""

    async def scores(self, query: str, agents: Sequence[AgentSpec]) -> list[tuple[str, float]]:
        """The chosen agent first at 1.0, then the others at 0.0 in registration order."""
        if not agents:
            return []
        answer = await self._llm.call(routing_prompt(query, agents), system=SYSTEM)
        choice = parse_choice(answer, agents)
        rows = [(a.name, 1.0 if a.name == choice else 0.0) for a in agents]
        rows.sort(key=lambda row: -row[1])
        return rows
