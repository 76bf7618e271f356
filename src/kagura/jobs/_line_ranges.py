"""Ascending line numbers kept as runs of consecutive lines: a fresh file's million new lines are one run."""

from __future__ import annotations

from array import array
from collections.abc import Iterator

__all__ = ["LineRanges"]


class LineRanges:
    """``append`` ascending line numbers; ``len()`` and iteration give them back."""

    def __init__(self) -> None:
        self._bounds = array("Q")  # first, last of each run
        self._count = 0

    def append(self, number: int) -> None:
        bounds = self._bounds
        if bounds and number <= bounds[-1]:
            raise ValueError(f"line numbers must ascend: {number} after {bounds[-1]}")
        if bounds and number == bounds[-1] + 1:
            bounds[-1] = number
        else:
            bounds.extend((number, number))
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        bounds = self._bounds
        for index in range(0, len(bounds), 2):
            yield from range(bounds[index], bounds[index + 1] + 1)

    @property
    def runs(self) -> int:
        return len(self._bounds) // 2
