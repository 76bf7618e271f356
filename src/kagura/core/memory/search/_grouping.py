"""One result per file: the best passage of each file, and one copy of a page published in two formats.

A search over chunks often returns several passages of the same file in its top results (a long page, a
class split at its methods), and documentation trees often hold the same page twice, as Markdown and as the
HTML built from it (``docs/api.md`` and ``docs/html/api.html``). :func:`best_per_file` keeps the first
(best) result of each file, and drops a result whose file is the other-format copy of a page already kept:
same file stem, one Markdown and the other HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Protocol, TypeVar

__all__ = ["best_per_file"]

_PAGE_FORMATS = frozenset({"markdown", "html"})


class _Ranked(Protocol):
    @property
    def relpath(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def file_type(self) -> str: ...


R = TypeVar("R", bound=_Ranked)


def best_per_file(results: Iterable[R], limit: int | None = None) -> list[R]:
    """The first result of each file (``results`` best first), skipping the Markdown/HTML copy of a page
    already kept; at most ``limit`` results (all when None)."""
    kept: list[R] = []
    files: set[str] = set()
    pages: dict[str, set[str]] = {}  # file stem -> formats kept
    for result in results:
        if limit is not None and len(kept) >= limit:
            break
        key = result.path or result.relpath
        if key in files:
            continue
        stem = PurePosixPath(result.relpath or result.path).stem.lower()
        if result.file_type in _PAGE_FORMATS:
            formats = pages.setdefault(stem, set())
            if formats and result.file_type not in formats:
                files.add(key)
                continue  # the other format's copy of a page already in the results
            formats.add(result.file_type)
        files.add(key)
        kept.append(result)
    return kept
