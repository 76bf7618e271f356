"""``ContextAnalyzer``: does a query lean on the conversation, and what does it mean on its own?"""

from __future__ import annotations

from typing import Any

from kagura._checks import check_bool, check_int
from kagura.routing._cues import might_need_context, significant_cues
from kagura.routing._llm_strategy import llm_client
from kagura.routing._text import normalize
from kagura.routing._types import HistoryLike, QueryContext

__all__ = ["REWRITE_SYSTEM", "ContextAnalyzer", "compose"]

REWRITE_SYSTEM = (
    "You rewrite a user's latest message into a self-contained request, resolving pronouns and follow-ups "
    "against the recent conversation. Answer with the rewritten request only, in the user's language. "
    "If the latest message is already self-contained, answer NONE."
)


def compose(history: tuple[str, ...] | list[str], query: str) -> str:
    """The local (no LLM) enhanced query: the query, then the last relevant user turn as context.

    The user's own words come first so that a query with its own intent ("Email it to Ken") keeps it, while
    one without ("What about Spanish?") borrows the earlier turn's.

    The last relevant turn is the most recent user turn that is itself self-contained (no significant
    follow-up cue), so a chain "Translate 'hello' to French" -> "What about Spanish?" -> "And German too?"
    still anchors on the first request; when every turn is a follow-up, the most recent one is used.
    """
    if not history:
        return query
    anchor = next((turn for turn in reversed(history) if not significant_cues(turn)), history[-1])
    return f"{query} — {anchor}"


class ContextAnalyzer:
    """Decide whether a query needs the conversation to be understood, and rewrite it if so.

    ``memory`` is anything with ``async recent(n)`` returning turns with ``.role``/``.content`` (e.g.
    ``ConversationMemory``); ``llm`` an ``LLMClient`` (an ``LLMConfig`` is made into one here, once).
    ``history_turns`` is how many recent turns are read.

    ``analyze`` first applies the local rules (no cue, or only cues read as self-contained such as the dummy
    "it" of "Is it raining?" -> no enhancement, no LLM call; no history -> no enhancement). Otherwise, with an
    LLM it asks for a rewrite (an answer of ``NONE`` or the unchanged query means no enhancement); without
    one it composes the last relevant user turn with the query. ``always_ask_llm=True`` sends every query to
    the LLM, cues or not, history or not (the seed's always-analyse behaviour: the benchmark's serial
    baseline). The cheap check of ``MemoryAwareRouter`` then decides alone whether analysis is awaited, so
    equivalence with the serial protocol relies on the LLM answering ``NONE`` for cue-less queries.
    """

    def __init__(
        self,
        memory: HistoryLike | None = None,
        llm: Any = None,
        *,
        history_turns: int = 6,
        always_ask_llm: bool = False,
    ) -> None:
        check_int("history_turns", history_turns)
        check_bool("always_ask_llm", always_ask_llm)
        self.memory = memory
        self.llm = llm_client(llm)
        self.history_turns = history_turns
        self.always_ask_llm = always_ask_llm

    def might_need_context(self, query: str) -> bool:
        """The cheap local check: any follow-up cue at all (pronoun, "what about", 「それ」, 「も」...)."""
        return might_need_context(query)

    async def _history(self) -> list[tuple[str, str]]:
        if self.memory is None:
            return []
        turns = await self.memory.recent(self.history_turns)
        return [(t.role, t.content) for t in turns]

    async def analyze(self, query: str) -> QueryContext:
        """A ``QueryContext`` for ``query`` (see the class docstring for the rules)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        cues = significant_cues(query)
        ask_anyway = self.llm is not None and self.always_ask_llm
        if not cues and not ask_anyway:
            reason = "self-contained cue only" if might_need_context(query) else "no follow-up cue"
            return QueryContext(False, None, reason)
        turns = await self._history()
        users = tuple(content for role, content in turns if role == "user")
        if self.llm is not None and (turns or ask_anyway):
            return await self._rewrite(query, turns, users)
        if not turns:
            return QueryContext(False, None, "no conversation history")
        if not users:
            return QueryContext(False, None, "no earlier user turn", users)
        cue_list = ", ".join(c.text for c in cues)
        return QueryContext(True, compose(users, query), f"follow-up cue: {cue_list}", users)

    async def _rewrite(
        self, query: str, turns: list[tuple[str, str]], users: tuple[str, ...]
    ) -> QueryContext:
        transcript = "\n".join(f"{role}: {content}" for role, content in turns) or "(none)"
        prompt = f"Recent conversation:\n{transcript}\n\nLatest message: {query}\n\nRewritten request:"
        answer = (await self.llm.call(prompt, system=REWRITE_SYSTEM)).strip()
        if not answer or answer.strip(" .\"'`").upper() == "NONE" or normalize(answer) == normalize(query):
            return QueryContext(False, None, "llm: already self-contained", users)
        return QueryContext(True, answer, "llm rewrite", users)
