"""English follow-up cues, and the local rules that read some of them as self-contained.

Cues (each a word or phrase that usually leans on an earlier turn):

- pronouns and demonstratives: it, that, this, these, those, they, them, he/him/she/her;
- "what about", "how about", "also", "again", "instead", "too", "as well" (closing a clause);
- the same thing: "the same", "same for/with/in ...", "same thing", a closing "same";
- another or more of it: "another", "else", a closing "more" ("Show me more", "One more, please"),
  an elided noun "one" ("a cheaper one", "the second one");
- the other one: "the other";
- conditionals that continue the thread: "what if", a clause-initial "and/but/or/so if";
- "which one", and a question closing on "then" ("Should I pack an umbrella then?");
- ellipsis: a clause-initial "and/or/but/then/now" followed by a preposition or a time word ("And in
  Kyoto?", "Now for Berlin", "And tomorrow?"), or a short question "And Kyoto?".

Self-contained readings (the cue stays visible to the cheap check, but needs no antecedent):

- **dummy "it"** (weather, time, extraposition): "it" followed by a weather word, possibly through
  auxiliaries and adverbs only ("Is it raining?", "Will it snow tomorrow?", "It's cold"); "it" after "what
  time/day/date is"; "it" followed by an optional copula and an evaluative adjective ("Is it possible to
  ...", "it's worth ..."); the idiom "how is it going".
- **temporal demonstratives**: this/that/these/those/the other + a time noun ("this morning", "the other
  day").
- **complementiser "that"**: "that" followed by a subject or after a verb of saying/thinking or an
  evaluative adjective ("is it true that Kyoto ...", "I think that ...").
- **degree "too"**: "too" followed by another word ("too hot") rather than closing a clause ("me too").
- **idioms**: "one another", "another word for", "or else".
"""

from __future__ import annotations

import re

from kagura.routing._cues._cue import Cue

__all__ = ["english_cues"]

_WEATHER = (
    r"rain\w*|snow\w*|sunny|cloudy|windy|cold|colder|hot|hotter|warm\w*|humid|foggy|stormy|freezing|chilly|"
    r"drizzl\w*|hail\w*|pour\w*|thunder\w*|cool|dark|bright|icy|wet|dry|muggy|clear"
)
_TIME = (
    r"morning|afternoon|evening|night|tonight|today|tomorrow|week|weekend|month|year|time|season|summer|"
    r"winter|spring|autumn|fall|monday|tuesday|wednesday|thursday|friday|saturday|sunday|day"
)
_EVALUATIVE = (
    r"possible|necessary|true|safe|ok|okay|worth|better|best|hard|easy|important|likely|legal|normal|fine|"
    r"free|allowed"
)
_SUBJECT = r"the|a|an|i|we|you|he|she|it|they|my|our|your|his|her|their|there|this|someone|everyone"
# what may close a clause after a cue: optional politeness/adverbs, then punctuation or the end
_CLOSE = r"(?=(?:\s+(?:please|then|too|again|now|instead|thanks))*\s*(?:[?.!,;:]|$))"
_CLAUSE_START = r"(?:^\s*|(?<=[.!?;:—–-])\s*)"
_PREPOSITION_OR_TIME = (
    r"in|for|at|on|to|with|from|by|near|into|without|under|over|during|after|before|"
    r"tomorrow|today|tonight|yesterday|next|last|this|the day after"
)
_ONE_AFTER = (  # the elided noun "one" ends its noun phrase: "a cheaper one?", "the one with the view"
    r"\s*(?:[?.!,;]|$)|\s+(?:please|instead|too|for|with|in|on|from|at|to|and|or|but|then|again)\b"
)
_W = r"(?<![\w'])"  # a word starts here
_E = r"(?!\w)"  # a word ends here

_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "it": rf"{_W}it{_E}",
        "that": rf"{_W}that{_E}",
        "this": rf"{_W}this{_E}",
        "these": rf"{_W}these{_E}",
        "those": rf"{_W}those{_E}",
        "they": rf"{_W}they{_E}",
        "them": rf"{_W}them{_E}",
        "he": rf"{_W}(?:he|him|she|her){_E}",
        "what about": rf"{_W}what about{_E}",
        "how about": rf"{_W}how about{_E}",
        "also": rf"{_W}also{_E}",
        "again": rf"{_W}again{_E}",
        "the same": rf"{_W}the same{_E}",
        "same": r"(?<!the )(?<![\w'-])same(?=(?:\s+(?:thing|one|question|again|here))?"
        r"(?:\s+(?:for|with|in|on|at|to|but|as)\b|\s*(?:[?.!,;]|$)))",
        "instead": rf"{_W}instead{_E}",
        "too": rf"{_W}too{_E}",
        "as well": rf"{_W}as well{_CLOSE}",
        "another": rf"{_W}another{_E}",
        "else": rf"{_W}else{_E}",
        "more": rf"{_W}more{_CLOSE}",
        "one": rf"{_W}(?:a|an|the|this|that|other|another)\s+(?:[a-z-]+\s+)?one(?={_ONE_AFTER})",
        "which one": rf"{_W}which ones?{_E}",
        "the other": rf"{_W}the other{_E}",
        "what if": rf"{_W}what if{_E}",
        "then?": r"(?<=\w)\s+then(?=\s*\?)",
        "and if": rf"{_CLAUSE_START}(?:and|but|or|so)\s+if{_E}",
        "and ...": rf"{_CLAUSE_START}(?:and|or|but|then|now|ok|okay)\s*,?\s+(?:{_PREPOSITION_OR_TIME}){_E}",
        "and ...?": r"^(?:and|or)\s+(?:[^\s?]+\s+){0,2}[^\s?]+\s*\?\s*$",
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


def _self_contained(name: str, text: str, start: int, end: int) -> bool:
    """Whether a local rule (see the module docstring) reads this cue as needing no antecedent."""
    before, after = text[:start], text[end:]
    if name == "it":
        return bool(
            _DUMMY_AFTER_IT.match(after)
            or _DUMMY_EXTRAPOSITION.match(after)
            or _DUMMY_TIME_QUESTION.search(before)
            or (_IDIOM_IT.search(before) and after.lstrip().startswith("going"))
        )
    if name in ("this", "that", "these", "those", "the other") and _TEMPORAL_AFTER.match(after):
        return True
    if name == "that" and (_SUBJECT_AFTER.match(after) or _COMPLEMENTISER_BEFORE.search(before)):
        return True
    if name == "another":
        return before.endswith("one ") or after.startswith(" word for")
    if name == "else":
        return before.endswith("or ")
    return name == "too" and bool(_WORD_AFTER.match(after))


def english_cues(text: str) -> list[Cue]:
    """Every English cue in ``text`` (normalised, quotations masked), in pattern order."""
    cues: list[Cue] = []
    for name, pattern in _PATTERNS.items():
        for match in pattern.finditer(text):
            cues.append(Cue(name, match.start(), _self_contained(name, text, match.start(), match.end())))
    return cues
