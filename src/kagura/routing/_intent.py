"""The ``intent`` strategy: keyword matching on word boundaries, English and Japanese.

Score of an agent = ``1 - 0.5 ** k`` where ``k`` is how many of its distinct intent keywords occur in the
query: one keyword gives 0.5, two 0.75, three 0.875. The default threshold (0.5) therefore means "at least
one keyword". Ties are broken by where the first matched keyword occurs (earlier wins: a locally enhanced
query puts the user's own words before the borrowed context, see ``ContextAnalyzer``), then by
registration order.
"""

from __future__ import annotations

from collections.abc import Sequence

from kagura.routing._text import find_keyword, normalize
from kagura.routing._types import AgentSpec

__all__ = ["IntentStrategy", "intent_scores"]


def intent_scores(query: str, agents: Sequence[AgentSpec]) -> list[tuple[str, float, int]]:
    """(name, score, first match position) for every agent, in registration order. Blocking but cheap.

    The position is ``len(query)`` when nothing matched.
    """
    text = normalize(query)
    rows: list[tuple[str, float, int]] = []
    for agent in agents:
        positions = [find_keyword(text, kw) for kw in {normalize(k) for k in agent.intents}]
        found = [p for p in positions if p >= 0]
        rows.append((agent.name, 1.0 - 0.5 ** len(found), min(found, default=len(text))))
    return rows


class IntentStrategy:
    """Keyword matching; needs no model and no network."""

    name = "intent"
    default_threshold = 0.5

    def invalidate(self) -> None:
        """Nothing is cached."""

    async def scores(self, query: str, agents: Sequence[AgentSpec]) -> list[tuple[str, float]]:
        """Agents best first."""
        rows = intent_scores(query, agents)
        order = sorted(range(len(rows)), key=lambda i: (-rows[i][1], rows[i][2], i))
        return [(rows[i][0], rows[i][1]) for i in order]
