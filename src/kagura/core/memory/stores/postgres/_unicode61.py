"""SQLite FTS5's ``porter unicode61`` tokenizer in Python: the tokens the SQLite store's keyword index holds,
so another store can index and rank exactly the same tokens.

``unicode61`` with its defaults (``remove_diacritics=1``, token characters ``L* N* Co``):

- a token is a maximal run of token characters: letters, numbers, private-use characters, characters FTS5's
  Unicode tables do not know (unassigned), and the combining diacritics it removes; everything else
  (spaces, punctuation, symbols, other marks, the underscore) separates tokens;
- each character is case-folded by the simple (one-character) mapping, then a Latin letter carrying one
  diacritic loses it (``É`` -> ``e``); a diacritic on its own vanishes from the token;

then ``porter`` stems every token (:func:`~kagura.core.memory.stores.postgres._porter.porter_stem`).

FTS5 carries its own, older Unicode tables; Python's are newer. Characters assigned since (and a few
re-categorised ones) may tokenize differently; every character of Unicode 3.2 whose category has not
changed since tokenizes exactly as FTS5 does (``tests/core/memory/test_fts5_tokens.py`` checks them all).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from kagura.core.memory.stores.postgres._porter import porter_stem

__all__ = ["fts5_tokens", "unicode61_tokens"]

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _diacritics() -> frozenset[str]:
    """The combining marks that decorate an ASCII letter in some precomposed Latin letter (À, ç, ǒ, ...):
    the diacritics ``remove_diacritics=1`` strips."""
    marks = set()
    for code in range(0x80, 0x2000):
        parts = unicodedata.normalize("NFD", chr(code))
        if len(parts) == 2 and parts[0].isascii() and parts[0].isalpha():
            marks.add(parts[1])
    return frozenset(marks)


@lru_cache(maxsize=65536)
def _fold(ch: str) -> str | None:
    """What ``ch`` becomes inside a token ('' when it vanishes), or None when it separates tokens."""
    if ch.isascii():
        return ch.lower() if ch.isalnum() else None
    marks = _diacritics()
    if ch in marks:
        return ""
    category = unicodedata.category(ch)
    if category[0] not in "LN" and category not in ("Co", "Cn"):
        return None
    folded = ch.casefold()
    if len(folded) != 1:  # a full folding (ß -> ss); FTS5 folds one character into one
        lower = ch.lower()
        if len(lower) == 1:
            folded = lower
        elif all(unicodedata.combining(c) for c in lower[1:]):
            folded = lower[0]  # İ -> i + combining dot: the letter (its diacritic goes anyway)
        else:
            folded = ch
    parts = unicodedata.normalize("NFD", folded)
    if len(parts) == 2 and parts[0].isascii() and parts[1] in marks:
        return parts[0]
    return folded


def unicode61_tokens(text: str) -> list[str]:
    """The tokens of ``text`` as FTS5's ``unicode61`` tokenizer (default options) produces them."""
    if not isinstance(text, str):
        raise TypeError(f"text to tokenize must be a str, not {type(text).__name__}")
    if text.isascii():  # the common case, at C speed: letters and digits, lower-cased
        return _ASCII_TOKEN.findall(text.lower())
    tokens: list[str] = []
    current: list[str] = []
    for ch in text:
        folded = _fold(ch)
        if folded is None:
            if current:
                tokens.append("".join(current))
                current.clear()
            continue
        if folded:
            current.append(folded)
    if current:
        tokens.append("".join(current))
    return tokens


def fts5_tokens(text: str) -> list[str]:
    """The tokens of ``text`` as FTS5's ``porter unicode61`` tokenizer produces them, in order."""
    return [_stem(token) for token in unicode61_tokens(text)]


_stem = lru_cache(maxsize=1 << 16)(porter_stem)
"""Stems of recent tokens: a corpus repeats a small vocabulary (Zipf), so most tokens are stemmed once."""
