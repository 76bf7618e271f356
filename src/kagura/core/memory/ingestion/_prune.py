"""Which stored documents one run removes: only files that are gone, never files unreadable for a moment.

Linear in the number of stored paths (one set lookup each, plus a walk up the parents of a path that is
neither seen nor stale, to find an unreadable folder above it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PrunePlan", "plan_prune"]


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """``gone``: stored files no longer in the tree; ``stale``: stored files now skipped by a rule (empty)."""

    gone: list[str]
    stale: list[str]

    @property
    def paths(self) -> list[str]:
        return self.gone + self.stale


def _below(path: str, folders: set[str]) -> bool:
    head = path
    while True:
        head, sep, _ = head.rpartition("/")
        if not sep or not head:
            return False
        if head in folders:
            return True


def plan_prune(
    stored: Iterable[str], seen: Iterable[str], stale: Iterable[str], unreadable: Iterable[str]
) -> PrunePlan:
    """Split ``stored`` paths into those to delete; keep everything ``seen`` this run, and everything at or
    below an ``unreadable`` path (a file or folder the scan could not read now: it is not gone)."""
    seen_set = set(seen)
    stale_set = set(stale)
    kept = {p.rstrip("/") for p in unreadable}
    gone: list[str] = []
    now_stale: list[str] = []
    for path in stored:
        if path in stale_set:
            now_stale.append(path)
        elif path in seen_set or path in kept or (kept and _below(path, kept)):
            continue
        else:
            gone.append(path)
    return PrunePlan(gone, now_stale)
