"""The keyword side of hybrid search: an FTS5 query from free text, ranked by BM25 over ``rag_fts``."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

__all__ = ["COLUMN_WEIGHTS", "keyword_query", "keyword_search", "keyword_words"]

COLUMN_WEIGHTS = (1.0, 2.0, 6.0, 2.0)
"""BM25 weights of the keyword index's columns: text, relpath, name (with the words of the file's kind, see
``_file_kinds``), section. A word in the file name, its kind or the
symbol says more than the same word somewhere in a passage. Every store ranks with these."""

# Words too common to help a keyword search (a question's "how", "the", "is" would match every chunk).
_STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its of on or that the this to was what"
    " when where which who why will with you your".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def keyword_words(text: str) -> list[str]:
    """The distinct lower-cased words of ``text`` a keyword search looks for (stop words dropped unless
    nothing else is left), in order. Every store builds its own query syntax from these."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS]
    if not words:
        words = _WORD.findall(text.lower())
    return list(dict.fromkeys(words))


def keyword_query(text: str) -> str | None:
    """An FTS5 query matching any word of ``text`` (stop words dropped; each word quoted, so FTS5 syntax
    in the text is never interpreted). None when no word is left."""
    unique = keyword_words(text)
    return " OR ".join(f'"{w}"' for w in unique) if unique else None


def keyword_search(
    conn: sqlite3.Connection, text: str, limit: int, file_type: str | None = None
) -> list[tuple[int, float]]:
    """``(chunk id, BM25 score, higher is better)`` of the ``limit`` best chunks for the words of ``text``;
    ``file_type`` filters before ranking. The caller holds the connection's lock."""
    query = keyword_query(text)
    if query is None:
        return []
    weights = ", ".join(repr(w) for w in COLUMN_WEIGHTS)
    sql = (
        f"SELECT f.rowid, bm25(rag_fts, {weights}) AS rank FROM rag_fts f"
        + (" JOIN rag_chunks c ON c.id = f.rowid WHERE rag_fts MATCH ? AND c.file_type = ?"
           if file_type is not None else " WHERE rag_fts MATCH ?")
        + " ORDER BY rank, f.rowid LIMIT ?"
    )  # fmt: skip
    params: list[Any] = [query] if file_type is None else [query, file_type]
    rows = conn.execute(sql, [*params, int(limit)]).fetchall()
    return [(int(rowid), -float(rank)) for rowid, rank in rows]
