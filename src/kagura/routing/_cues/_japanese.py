"""Japanese follow-up cues, and the rules that keep look-alikes from firing.

Cues:

- demonstratives and pronouns: それ, あれ, これ, そっち, あっち, こっち, そちら, and the determiners
  その…/あの… (「そのお店の営業時間は？」, 「あの映画を検索して」);
- earlier turns: さっき, 先ほど; the same / other / another: 同じ, 他の, ほかの, 他に, ほかに, 別の, 代わりに;
- more of it: もう一… (もう一度, もう一つ, もう一回), もう1…;
- discourse openers: じゃあ, and では/じゃ at the start of the query;
- the "also" particle も after a kanji/katakana/latin word or after a case particle that follows one
  (スペイン語も, 大阪でも);
- elliptical questions with no predicate: 〜では？, 〜なら？, 〜だったら？, 〜たら？, 〜の場合は？, and a bare
  topic 〜は？ (「大阪は？」, 「明日は？」; not 「東京の天気は？」, whose topic carries its own head noun).

Not cues: これから, それぞれ, あれば, これまで, その他; the interjections あのね/あのう/あのー/あの、; 別に;
the quantifier uses 何も, 誰も, いつも, どれも, どこも, 少しも, 一つも; では in mid-sentence (東京では雨？).
"""

from __future__ import annotations

import re

from kagura.routing._cues._cue import Cue

__all__ = ["japanese_cues"]

_CUES = (
    "それ",
    "あれ",
    "これ",
    "そっち",
    "あっち",
    "こっち",
    "そちら",
    "その",
    "あの",
    "さっき",
    "先ほど",
    "同じ",
    "じゃあ",
    "もう一",
    "もう1",
    "代わりに",
    "他の",
    "ほかの",
    "他に",
    "ほかに",
    "別の",
)
_NOT_CUES = ("これから", "それぞれ", "あれば", "これまで", "その他", "あのね", "あのう", "あのー", "あの、")
_QUANTIFIER_MO = ("何も", "誰も", "いつも", "どれも", "どこも", "少しも", "一つも")
_CASE_PARTICLES = ("から", "まで", "に", "で", "と", "へ")
_OPENERS = re.compile(r"^(?:じゃあ|じゃ|では|それで|で|あと|なら)[、,\s]*")
_ELLIPSIS = re.compile(r"^[^、。？?！!]{1,15}?(?:では|なら|だったら|たら|の場合は|のときは|の時は)\s*[？?]$")
_BARE_TOPIC = re.compile(r"^[^の、。？?！!\s]{1,12}は\s*[？?]$")


def _is_mo_particle(text: str, index: int) -> bool:
    before = text[:index]
    for particle in _CASE_PARTICLES:
        if before.endswith(particle) and len(before) > len(particle):
            before = before[: -len(particle)]
            break
    if not before:
        return False
    prev = before[-1]
    return not ("\u3040" <= prev <= "\u309f") and not prev.isspace() and prev not in "、。!?！？＿"


def japanese_cues(text: str) -> list[Cue]:
    """Every Japanese cue in ``text`` (normalised, quotations masked)."""
    cues: list[Cue] = []
    masked = text
    for phrase in (*_NOT_CUES, *_QUANTIFIER_MO):
        masked = masked.replace(phrase, "＿" * len(phrase))
    for cue in _CUES:
        start = masked.find(cue)
        if start != -1:
            cues.append(Cue(cue, start))
    stripped = masked.strip()
    if stripped.startswith(("では", "じゃ")) and not stripped.startswith("じゃあ"):
        cues.append(Cue(stripped[:2], 0))
    for index, char in enumerate(masked):
        if char == "も" and _is_mo_particle(masked, index):
            cues.append(Cue("も", index))
    question = _OPENERS.sub("", stripped)
    if question and (_ELLIPSIS.match(question) or _BARE_TOPIC.match(question)):
        cues.append(Cue("〜では？" if _ELLIPSIS.match(question) else "〜は？", len(text) - 1))
    return cues
