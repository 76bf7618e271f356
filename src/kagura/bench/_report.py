"""The row every benchmark produces, and the table that prints them side by side."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class BenchRow:
    """One measured comparison: the same work done serially and in parallel, in one run.

    ``ideal`` is the parallel time a perfect scheduler would reach (for example ``ceil(N/C)·L``);
    ``extra`` holds anything else a benchmark measured (peak RSS, throughput, agreement rate...).
    """

    operation: str
    items: int
    serial_s: float
    parallel_s: float
    ideal_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def improvement(self) -> float:
        """Fraction of the serial time saved: 0.4 means 40 % faster."""
        return 1.0 - self.parallel_s / self.serial_s if self.serial_s > 0 else 0.0

    @property
    def speedup(self) -> float:
        return self.serial_s / self.parallel_s if self.parallel_s > 0 else math.inf

    @property
    def ratio_to_ideal(self) -> float | None:
        """ideal / measured: 1.0 is perfect, 0.95 means within 5 % of the ideal."""
        if self.ideal_s is None or self.parallel_s <= 0:
            return None
        return self.ideal_s / self.parallel_s

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(improvement=self.improvement, speedup=self.speedup, ratio_to_ideal=self.ratio_to_ideal)
        return data


def quota_used(per_second: dict[int, int], first: int, last: int, rate_per_s: float) -> float:
    """Share of a provider quota (``rate_per_s`` units a second) used over whole seconds ``[first, last)``,
    from the server's per-second counts (``admitted_per_second``, ``tokens_per_second``)."""
    seconds = max(1, last - first)
    return sum(per_second.get(s, 0) for s in range(first, last)) / (rate_per_s * seconds)
