"""The cheap local check: lexical cues that a query may lean on the conversation.

``find_cues`` lists every cue with a flag saying whether a second, still local rule recognises it as
self-contained. ``might_need_context`` (the cheap check) fires on *any* cue; ``ContextAnalyzer`` only
enhances on cues that are not self-contained. The rules for self-contained cues:

- **dummy "it"** (weather, time, extraposition): "it" followed by a weather word, possibly through
  auxiliaries and adverbs only ("Is it raining?", "Will it snow tomorrow?", "It's cold", "is it going to be
  sunny"; not "Move it to the cold storage"); "it" after "what time/day/date is" ("What time is it?");
  "it" followed by an optional copula and an evaluative adjective ("Is it possible to ...", "it's worth
  ..."). No antecedent is needed for those readings.
- **temporal demonstratives**: this/that/these/those + a time noun ("this morning", "that week").
- **complementiser "that"**: "that" followed by a subject ("remind me that the meeting ...") or after a
  verb of saying/thinking or an evaluative adjective ("is it true that Kyoto ...", "I think that ...").
- **idiom**: "how is it going".
- **degree "too"**: "too" followed by another word ("too hot") rather than closing a clause ("me too").
- **Japanese**: これから/それぞれ/あれば and the quantifier uses 何も/誰も/いつも/どれも are not cues;
  も only counts as the "also" particle after a kanji/katakana/latin word or after a case particle that
  follows one (スペイン語も, 大阪でも); では only counts at the start of the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kagura.routing._text import normalize

__all__ = ["Cue", "find_cues", "might_need_context", "significant_cues"]

_WEATHER = (
    r"rain\w*|snow\w*|sunny|cloudy|windy|cold|colder|hot|hotter|warm\w*|humid|foggy|stormy|freezing|chilly|"
    r"drizzl\w*|hail\w*|pour\w*|thunder\w*|cool|dark|bright|icy|wet|dry|muggy|clear"
)
_TIME = (
    r"morning|afternoon|evening|night|tonight|today|tomorrow|week|weekend|month|year|time|season|summer|"
    r"winter|spring|autumn|fall|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
)
_EVALUATIVE = (
    r"possible|necessary|true|safe|ok|okay|worth|better|best|hard|easy|important|likely|legal|normal|fine|"
    r"free|allowed"
)
_SUBJECT = r"the|a|an|i|we|you|he|she|it|they|my|our|your|his|her|their|there|this|someone|everyone"

_EN_CUES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "it": r"(?<![\w'])it(?!\w)",
        "that": r"(?<![\w'])that(?!\w)",
        "this": r"(?<![\w'])this(?!\w)",
        "these": r"(?<![\w'])these(?!\w)",
        "those": r"(?<![\w'])those(?!\w)",
        "they": r"(?<![\w'])they(?!\w)",
        "them": r"(?<![\w'])them(?!\w)",
        "what about": r"(?<![\w'])what about(?!\w)",
        "how about": r"(?<![\w'])how about(?!\w)",
        "also": r"(?<![\w'])also(?!\w)",
        "again": r"(?<![\w'])again(?!\w)",
        "the same": r"(?<![\w'])the same(?!\w)",
        "instead": r"(?<![\w'])instead(?!\w)",
        "too": r"(?<![\w'])too(?!\w)",
    }.items()
}

_AUX = (
    r"is|was|will|be|been|being|going|to|gonna|get|gets|getting|got|still|very|so|really|too|quite|pretty|"
    r"not|currently|supposed|likely|always|usually|often"
)
_DUMMY_AFTER_IT = re.compile(rf"^(?:'s|'ll)?(?:\s+(?:{_AUX}))*\s+(?:{_WEATHER})\b")
_DUMMY_EXTRAPOSITION = re.compile(rf"^(?:'s|\s+(?:is|was|will be|would be|be))?\s+(?:{_EVALUATIVE})\b")
_DUMMY_TIME_QUESTION = re.compile(r"\b(?:what|which)\s+(?:time|day|date|month|year)\s+is\s+$")
_TEMPORAL_AFTER = re.compile(rf"^\s+(?:{_TIME})\b")
_SUBJECT_AFTER = re.compile(rf"^\s+(?:{_SUBJECT})\b")
_WORD_AFTER = re.compile(r"^\s+[a-z]")
_COMPLEMENTISER_BEFORE = re.compile(
    rf"\b(?:think|thinks|thought|know|knows|knew|say|says|said|believe|believes|hope|mean|means|sure|"
    rf"claim|claims|realise|realize|remember|notice|so|such|{_EVALUATIVE})\s+$"
)
_IDIOM_IT = re.compile(r"\bhow(?:'s|\s+is|\s+was)\s+$")

_JA_CUES = (
    "それ",
    "あれ",
    "これ",
    "そっち",
    "あっち",
    "こっち",
    "そちら",
    "さっき",
    "先ほど",
    "同じ",
    "じゃあ",
    "もう一度",
    "代わりに",
    "他の",
    "ほかの",
)
_JA_NOT_CUES = ("これから", "それぞれ", "あれば", "これまで")
_JA_QUANTIFIER_MO = ("何も", "誰も", "いつも", "どれも", "どこも", "少しも", "一つも")
_JA_CASE_PARTICLES = ("から", "まで", "に", "で", "と", "へ")


@dataclass(frozen=True)
class Cue:
    """A cue found in a query: its text, its position and whether a local rule reads it as self-contained."""

    text: str
    start: int
    self_contained: bool = False


def _english_self_contained(name: str, text: str, start: int, end: int) -> bool:
    before, after = text[:start], text[end:]
    if name == "it":
        return bool(
            _DUMMY_AFTER_IT.match(after)
            or _DUMMY_EXTRAPOSITION.match(after)
            or _DUMMY_TIME_QUESTION.search(before)
            or (_IDIOM_IT.search(before) and after.lstrip().startswith("going"))
        )
    if name in ("this", "that", "these", "those") and _TEMPORAL_AFTER.match(after):
        return True
    if name == "that" and (_SUBJECT_AFTER.match(after) or _COMPLEMENTISER_BEFORE.search(before)):
        return True
    return name == "too" and bool(_WORD_AFTER.match(after))


def _is_mo_particle(text: str, index: int) -> bool:
    before = text[:index]
    for particle in _JA_CASE_PARTICLES:
        if before.endswith(particle) and len(before) > len(particle):
            before = before[: -len(particle)]
            break
    if not before:
        return False
    prev = before[-1]
    return not ("\u3040" <= prev <= "\u309f") and not prev.isspace() and prev not in "、。!?！？"


def _japanese_cues(text: str) -> list[Cue]:
    cues: list[Cue] = []
    masked = text
    for phrase in (*_JA_NOT_CUES, *_JA_QUANTIFIER_MO):
        masked = masked.replace(phrase, "＿" * len(phrase))
    for cue in _JA_CUES:
        start = masked.find(cue)
        if start != -1:
            cues.append(Cue(cue, start))
    if masked.lstrip().startswith("では") or masked.lstrip().startswith("じゃ"):
        cues.append(Cue(masked.lstrip()[:2], 0))
    for index, char in enumerate(masked):
        if char == "も" and _is_mo_particle(masked, index):
            cues.append(Cue("も", index))
    return cues


def find_cues(query: str) -> list[Cue]:
    """Every follow-up cue in ``query``, in order of position."""
    text = normalize(query)
    cues: list[Cue] = []
    for name, pattern in _EN_CUES.items():
        for match in pattern.finditer(text):
            contained = _english_self_contained(name, text, match.start(), match.end())
            cues.append(Cue(name, match.start(), contained))
    cues.extend(_japanese_cues(text))
    cues.sort(key=lambda c: c.start)
    return cues


def might_need_context(query: str) -> bool:
    """The cheap check: True when any cue occurs (even one a later rule reads as self-contained)."""
    return bool(find_cues(query))


def significant_cues(query: str) -> list[Cue]:
    """The cues no local rule explains away: the query likely refers to the conversation."""
    return [c for c in find_cues(query) if not c.self_contained]
