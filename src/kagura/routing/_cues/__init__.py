"""The cheap local check: lexical cues that a query may lean on the conversation.

``find_cues`` lists every cue with a flag saying whether a second, still local rule recognises it as
self-contained. ``might_need_context`` (the cheap check) fires on *any* cue; ``ContextAnalyzer`` only
enhances on cues that are not self-contained (``significant_cues``). Text inside quotation marks is what
the user hands over ("Translate 'the other one' into Spanish", 「それ」を英語に訳して), so it is masked
before looking. The English rules are in ``_english``, the Japanese ones in ``_japanese``; the labelled
set ``kagura/bench/data/routing_conversations.json`` measures both (``kagura bench router``).
"""

from __future__ import annotations

from kagura.routing._cues._cue import Cue, mask_quotes
from kagura.routing._cues._english import english_cues
from kagura.routing._cues._japanese import japanese_cues
from kagura.routing._text import normalize

__all__ = ["Cue", "find_cues", "might_need_context", "significant_cues"]


def find_cues(query: str) -> list[Cue]:
    """Every follow-up cue in ``query``, in order of position."""
    text = mask_quotes(normalize(query))
    cues = english_cues(text) + japanese_cues(text)
    cues.sort(key=lambda c: c.start)
    return cues


def might_need_context(query: str) -> bool:
    """The cheap check: True when any cue occurs (even one a later rule reads as self-contained)."""
    return bool(find_cues(query))


def significant_cues(query: str) -> list[Cue]:
    """The cues no local rule explains away: the query likely refers to the conversation."""
    return [c for c in find_cues(query) if not c.self_contained]
