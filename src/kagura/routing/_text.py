"""Text helpers shared by the intent strategy and the context check: keyword matching for EN + JA.

Latin-script keywords match on word boundaries ("check" does not match "checkout"); keywords containing
CJK characters (kanji, hiragana, katakana, hangul) match as substrings, since those scripts do not separate
words with spaces. A boundary is any character that is not a non-CJK letter or digit, so "Python" still
matches in "Pythonで書いて".
"""

from __future__ import annotations

import unicodedata

__all__ = ["find_keyword", "has_cjk", "is_cjk", "normalize"]


def is_cjk(char: str) -> bool:
    """True for kanji, hiragana, katakana (full and half width), hangul and CJK punctuation."""
    code = ord(char)
    return (
        0x3000 <= code <= 0x30FF  # CJK punctuation, hiragana, katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xAC00 <= code <= 0xD7AF  # hangul
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0xFF66 <= code <= 0xFF9F  # half-width katakana
        or 0x20000 <= code <= 0x2FA1F  # extensions B+
    )


def has_cjk(text: str) -> bool:
    """True when ``text`` contains at least one CJK character."""
    return any(is_cjk(c) for c in text)


def normalize(text: str) -> str:
    """NFKC + casefold: full-width latin becomes ASCII, case is ignored."""
    return unicodedata.normalize("NFKC", text).casefold()


def _is_word_char(char: str) -> bool:
    return (char.isalnum() or char == "_") and not is_cjk(char)


def find_keyword(text: str, keyword: str) -> int:
    """Index of the first occurrence of ``keyword`` in ``text`` (both already normalised), or -1.

    CJK keywords match as substrings; other keywords only where their neighbours are not word characters.
    """
    if not keyword:
        return -1
    if has_cjk(keyword):
        return text.find(keyword)
    start = text.find(keyword)
    while start != -1:
        end = start + len(keyword)
        before_ok = start == 0 or not _is_word_char(text[start - 1]) or not _is_word_char(keyword[0])
        after_ok = end == len(text) or not _is_word_char(text[end]) or not _is_word_char(keyword[-1])
        if before_ok and after_ok:
            return start
        start = text.find(keyword, start + 1)
    return -1
