"""Exact identifiers in a query: ``reverse_proxy``, ``client_max_body_size``, ``os.path.join``, ``maxAge``.

The keyword index splits ``reverse_proxy`` into the words ``reverse proxy``, so a prose page saying "a
reverse proxy" matches as well as the Caddyfile holding the directive. A query that writes an identifier
the way code and configuration files write it asks for that spelling: :func:`boost_identifiers` raises
the BM25 score of the keyword hits whose text holds the query's identifiers verbatim (case-sensitive), so
the file with the directive wins over prose about the same words. Done on the hits any store returns, so
both stores rank alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = ["IDENTIFIER_BOOST", "boost_identifiers", "query_identifiers"]

IDENTIFIER_BOOST = 0.5
"""A hit holding every identifier of the query scores ``1 + IDENTIFIER_BOOST`` times its BM25 (pro rata)."""

_TOKEN = re.compile(r"[A-Za-z_$][\w$]*(?:[.:/][A-Za-z_$][\w$]*)*")
_CAMEL = re.compile(r"[a-z0-9][A-Z]")


def query_identifiers(text: str) -> list[str]:
    """The identifier-shaped tokens of ``text``: with an inner ``_``, a dot/colon/slash path, or camelCase
    (not hyphens: "front-end" is English)."""
    found = []
    for token in _TOKEN.findall(text):
        parts = re.split(r"[.:/]", token)
        pathlike = len(parts) > 1 and min(len(part) for part in parts) >= 2
        if len(token) >= 3 and ("_" in token.strip("_") or pathlike or _CAMEL.search(token)):
            found.append(token)
    return list(dict.fromkeys(found))


def boost_identifiers(
    text: str, hits: Sequence[tuple[int, float]], texts: Callable[[list[int]], dict[int, str]]
) -> list[tuple[int, float]]:
    """``hits`` (chunk id, BM25) re-scored for the identifiers of ``text`` and re-sorted (best first, ties in
    their original order); ``texts`` fetches the chunk texts of ids. Unchanged when there is none."""
    identifiers = query_identifiers(text)
    if not identifiers or not hits:
        return list(hits)
    bodies = texts([cid for cid, _ in hits])
    rescored = []
    for rank, (cid, score) in enumerate(hits):
        body = bodies.get(cid, "")
        share = sum(ident in body for ident in identifiers) / len(identifiers)
        rescored.append((score * (1.0 + IDENTIFIER_BOOST * share), rank, cid))
    rescored.sort(key=lambda item: (-item[0], item[1]))
    return [(cid, score) for score, _, cid in rescored]
