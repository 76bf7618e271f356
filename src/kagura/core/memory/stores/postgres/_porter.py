"""The Porter stemmer (M. F. Porter, "An algorithm for suffix stripping", 1980), as SQLite FTS5's ``porter``
tokenizer applies it to each token of ``unicode61``.

A word is read as letters that are vowels (``a e i o u``, and ``y`` after a consonant) or consonants
(everything else: other letters, digits, and each UTF-8 byte of a non-ASCII character). Its *measure*
``m`` counts the vowel-run/consonant-run pairs, ``[C](VC){m}[V]``. Five steps strip suffixes, each
choosing the longest suffix it knows and applying it only when the stem left before it meets that
suffix's condition.

FTS5 details kept here (checked against FTS5 by ``tests/core/memory/test_fts5_tokens.py``): tokens shorter
than 3 or longer than 64 UTF-8 bytes are left alone; step 2 has Porter's later ``bli -> ble`` and
``logi -> log`` rules (instead of the paper's ``abli -> able``).
"""

from __future__ import annotations

__all__ = ["porter_stem"]

_MIN_BYTES = 3
_MAX_BYTES = 64

# (suffix, replacement) per step, longest suffixes first where one ends another.
_STEP2 = (
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
    ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"),
    ("ization", "ize"), ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"),
    ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
    ("logi", "log"),
)  # fmt: skip
_STEP3 = (
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""),
    ("ness", ""),
)  # fmt: skip
_STEP4 = (
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism",
    "ate", "iti", "ous", "ive", "ize",
)  # fmt: skip


def _consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in "aeiou":
        return False
    if ch == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """``m`` of ``stem``: how many times a vowel run is followed by a consonant run."""
    m = 0
    previous_vowel = False
    for i in range(len(stem)):
        vowel = not _consonant(stem, i)
        if previous_vowel and not vowel:
            m += 1
        previous_vowel = vowel
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _consonant(stem, i) for i in range(len(stem)))


def _double_consonant(stem: str) -> bool:
    """Ends with a doubled consonant (FTS5 counts a doubled ``y`` as one, whatever precedes it)."""
    return len(stem) >= 2 and stem[-1] == stem[-2] and stem[-1] not in "aeiou"


def _cvc(stem: str) -> bool:
    """Ends consonant-vowel-consonant, the last consonant not ``w``, ``x`` or ``y`` (as in hop, not few)."""
    n = len(stem)
    return (
        n >= 3
        and _consonant(stem, n - 1)
        and not _consonant(stem, n - 2)
        and _consonant(stem, n - 3)
        and stem[-1] not in "wxy"
    )


def _ends(word: str, suffix: str) -> bool:
    """``word`` ends with ``suffix`` after a non-empty stem (FTS5 never strips a whole word)."""
    return len(word) > len(suffix) and word.endswith(suffix)


def _longest(word: str, suffixes: tuple[str, ...]) -> str | None:
    best = None
    for suffix in suffixes:
        if _ends(word, suffix) and (best is None or len(suffix) > len(best)):
            best = suffix
    return best


def _step1(word: str) -> str:
    # 1a: plurals
    if _ends(word, "sses") or _ends(word, "ies"):
        word = word[:-2]
    elif _ends(word, "s") and not _ends(word, "ss"):
        word = word[:-1]
    # 1b: -eed, -ed, -ing
    if _ends(word, "eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            if _ends(word, suffix) and _has_vowel(word[: -len(suffix)]):
                word = word[: -len(suffix)]
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif _double_consonant(word) and word[-1] not in "lsz":
                    word = word[:-1]
                elif _measure(word) == 1 and _cvc(word):
                    word += "e"
                break
    # 1c: -y after a vowel in the stem
    if _ends(word, "y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    return word


def _replace(word: str, table: tuple[tuple[str, str], ...]) -> str:
    suffix = _longest(word, tuple(s for s, _ in table))
    if suffix is None:
        return word
    stem = word[: -len(suffix)]
    return stem + dict(table)[suffix] if _measure(stem) > 0 else word


def _step4(word: str) -> str:
    suffix = _longest(word, _STEP4)
    if suffix is None:
        return word
    stem = word[: -len(suffix)]
    if suffix == "ion" and not stem.endswith(("s", "t")):
        return word
    return stem if _measure(stem) > 1 else word


def _step5(word: str) -> str:
    if _ends(word, "e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _cvc(stem)):
            word = stem
    if _ends(word, "ll") and _measure(word) > 1:
        word = word[:-1]
    return word


def porter_stem(token: str) -> str:
    """``token`` (already folded by unicode61) stemmed as FTS5's ``porter`` tokenizer stems it."""
    if token.isascii():
        return token if len(token) < _MIN_BYTES or len(token) > _MAX_BYTES else _stem(token)
    # FTS5 stems UTF-8 bytes: a non-ASCII character counts as one consonant per byte (Straße has m = 1
    # but does not end consonant-vowel-consonant). Latin-1 maps each byte to one character to do the same.
    raw = token.encode("utf-8")
    if len(raw) < _MIN_BYTES or len(raw) > _MAX_BYTES:
        return token
    # Cutting one of two equal bytes (step 1b) can split a character; FTS5 keeps the broken bytes.
    return _stem(raw.decode("latin-1")).encode("latin-1").decode("utf-8", errors="replace")


def _stem(word: str) -> str:
    word = _step1(word)
    word = _replace(word, _STEP2)
    word = _replace(word, _STEP3)
    word = _step4(word)
    return _step5(word)
