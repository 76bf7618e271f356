"""Our Python ``porter unicode61`` tokenizer against SQLite's FTS5 itself: the tokens FTS5 indexes (read back
through ``fts5vocab``) must be exactly ours, for real words, synthetic suffix cases and every character."""

from __future__ import annotations

import inspect
import itertools
import re
import sqlite3
import unicodedata

import pytest

from kagura.core.memory.stores.postgres._porter import porter_stem
from kagura.core.memory.stores.postgres._unicode61 import fts5_tokens, unicode61_tokens


def _fts5(texts: list[str], tokenize: str = "porter unicode61") -> list[list[str]]:
    """FTS5's tokens of each text, in order (one row per text, read back from an ``instance`` vocab)."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{tokenize}')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    db.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", enumerate(texts))
    out: list[list[str]] = [[] for _ in texts]
    for term, doc, _offset in db.execute("SELECT term, doc, offset FROM v ORDER BY doc, offset"):
        out[doc].append(term)
    db.close()
    return out


def _docstring_words() -> list[str]:
    """Every distinct word of the docstrings and source of a few standard-library modules."""
    import argparse
    import asyncio.tasks
    import collections
    import email.message
    import json.decoder
    import logging
    import pathlib
    import subprocess
    import typing

    text = " ".join(
        inspect.getsource(m)
        for m in (argparse, asyncio.tasks, collections, email.message, json.decoder, logging, pathlib,
                  subprocess, typing)
    )  # fmt: skip
    return sorted(set(re.findall(r"\w+", text)))


def _compare(texts: list[str], tokenize: str = "porter unicode61") -> list[tuple[str, list[str], list[str]]]:
    ours = fts5_tokens if tokenize.startswith("porter") else unicode61_tokens
    return [
        (t, want, ours(t)) for t, want in zip(texts, _fts5(texts, tokenize), strict=True) if ours(t) != want
    ]


def test_porter_stems_every_word_of_stdlib_sources_like_fts5() -> None:
    words = _docstring_words()
    assert len(words) > 5000
    assert _compare(words) == []


def test_porter_suffix_rules_like_fts5_on_synthetic_words() -> None:
    # Every short word over letters exercising the vowel/consonant/y rules, with each suffix the steps know.
    suffixes = ("- ed ing e s y ll al ion ate ies sses eed ize iti ness tion bli logi ement ousli ational"
                " iveness icate ful ism").replace("-", "").split(" ")  # fmt: skip
    words = [
        "".join(letters) + suffix
        for n in range(1, 5)
        for letters in itertools.product("abyeilt", repeat=n)
        for suffix in suffixes
    ]
    assert _compare(words) == []


def test_long_and_non_ascii_tokens_like_fts5() -> None:
    words = ["b" * n + "aing" for n in range(55, 66)]  # FTS5 stems tokens of at most 64 bytes
    words += ["юs", "дас", "données", "connectés", "ÉCOLES", "naïvely", "Straße", "İstanbul", "x86_64",
              "ǖbers", "ﬁles", "σοφίας", "数据库", "a\u0301b \u0301 c", "smtp_ssl_port", "v2ing"]  # fmt: skip
    assert _compare(words) == []


def test_unicode61_treats_every_unicode_3_2_character_like_fts5() -> None:
    """Separator or token character, and its folding, for every code point assigned in Unicode 3.2 whose
    category has not changed since (FTS5's tables are older than Python's; newer characters may differ)."""
    old = unicodedata.ucd_3_2_0
    chars = [
        chr(c)
        for c in range(1, 0x110000)
        if not 0xD800 <= c < 0xE000 and old.category(chr(c)) not in ("Cn", "Co")
        and old.category(chr(c)) == unicodedata.category(chr(c))
    ]  # fmt: skip
    assert len(chars) > 90_000
    assert _compare([f"q{ch}q" for ch in chars], tokenize="unicode61") == []


def test_a_private_use_character_is_part_of_a_token() -> None:
    assert _compare(["q\ue000q", "\U000f0000x"], tokenize="unicode61") == []


@pytest.mark.parametrize("bad", [None, b"bytes", ["a", "list"]])
def test_tokenizing_anything_but_text_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="must be a str"):
        fts5_tokens(bad)  # type: ignore[arg-type]


def test_short_tokens_are_not_stemmed() -> None:
    assert porter_stem("as") == "as"
    assert porter_stem("ies") == "ie"  # the whole word is never a suffix
