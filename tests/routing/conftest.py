"""Shared helpers for the routing tests: the labelled conversation set and a list-backed memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from kagura.bench.router import DATASET
from kagura.routing import AgentRouter

DATA = DATASET


@dataclass
class Turn:
    role: str
    content: str
    agent: str | None = None


class ListMemory:
    """A minimal in-test conversation memory (the SQLite one is tested in tests/core/memory)."""

    def __init__(self, turns: list[dict[str, str]] | None = None) -> None:
        self.turns = [Turn(t["role"], t["content"]) for t in turns or []]
        self.writes: list[Turn] = []

    async def recent(self, n: int = 10) -> list[Turn]:
        return self.turns[-n:]

    async def add_turn(self, role: str, content: str, *, agent: str | None = None) -> Turn:
        turn = Turn(role, content, agent)
        self.turns.append(turn)
        self.writes.append(turn)
        return turn


def load_dataset() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def make_router(dataset: dict[str, Any], strategy: str = "intent", **kwargs: Any) -> AgentRouter:
    """An AgentRouter with the dataset's agents; each agent records its calls in ``router.calls``."""
    router = AgentRouter(strategy, fallback=dataset["fallback"], **kwargs)
    calls: list[tuple[str, str]] = []
    for name, spec in dataset["agents"].items():

        def agent(query: str, _name: str = name) -> str:
            calls.append((_name, query))
            return f"{_name} handled: {query}"

        router.register(agent, name=name, **spec)
    router.calls = calls  # type: ignore[attr-defined]
    return router


@pytest.fixture(scope="session")
def dataset() -> dict[str, Any]:
    return load_dataset()
