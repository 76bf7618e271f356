"""The ``Cue`` record and the masking shared by the English and Japanese cue finders."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Cue", "mask", "mask_quotes"]


@dataclass(frozen=True)
class Cue:
    """A cue found in a query: its text, its position and whether a local rule reads it as self-contained."""

    text: str
    start: int
    self_contained: bool = False


# Quoted text is material the user hands over ("Translate 'the other one' into Spanish",
# 「それ」を英語に訳して), not a reference to the conversation. An ASCII quote only opens after a non-word
# character and only closes before one, so the apostrophes of "what's" or "Tokyo's" never pair up.
_QUOTED = re.compile(r"(?<![\w])'[^'\n]+'(?![\w])|\"[^\"\n]+\"|“[^”\n]+”|‘[^’\n]+’|「[^」\n]+」|『[^』\n]+』")


def mask(text: str, start: int, end: int) -> str:
    """``text`` with ``[start, end)`` replaced by placeholder characters (positions are kept)."""
    return text[:start] + "＿" * (end - start) + text[end:]


def mask_quotes(text: str) -> str:
    """``text`` with the inside of every quotation masked (the quote marks stay)."""
    for match in _QUOTED.finditer(text):
        text = mask(text, match.start() + 1, match.end() - 1)
    return text
