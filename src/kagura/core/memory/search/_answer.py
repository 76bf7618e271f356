"""Answer a question from retrieved passages: with the LLM when one is configured, else the passages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kagura.core.llm import LLMClient
from kagura.core.memory._report import SearchResult

__all__ = ["Answer", "answer_prompt", "generate_answer"]

_SYSTEM = (
    "You answer questions using only the numbered passages given. Cite passages as [1], [2]. "
    "If the passages do not contain the answer, say so."
)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer (``text`` is ``None`` offline) and the passages it rests on, best first."""

    question: str
    text: str | None
    sources: list[SearchResult] = field(default_factory=list)


def answer_prompt(question: str, passages: Sequence[SearchResult]) -> str:
    """The user message: numbered passages with their sources, then the question."""
    blocks = [f"[{i}] ({p.source()})\n{p.text}" for i, p in enumerate(passages, start=1)]
    return "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"


async def generate_answer(question: str, passages: Sequence[SearchResult], llm: LLMClient | None) -> Answer:
    """Ask ``llm`` to answer from ``passages``; without an LLM (or passages), return the passages alone."""
    if llm is None or not passages:
        return Answer(question, None, list(passages))
    text = await llm.call(answer_prompt(question, passages), system=_SYSTEM)
    return Answer(question, text.strip(), list(passages))
