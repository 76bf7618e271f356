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
    ``checks`` is the row's goal as ``(metric, "<=" | ">=", limit)`` triples: ``metric`` names a property
    (``ratio_to_ideal``, ``speedup``) or a key of ``extra`` (``"kagura.share_429"`` reaches into a nested
    dict). Each goal is the one the issue that asked for the row stated; a row without checks has no goal
    (its pass/miss is "-"): no share of the ideal is assumed for it.
    """

    operation: str
    items: int
    serial_s: float
    parallel_s: float
    ideal_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def goal_checks(self) -> list[tuple[str, str, float]]:
        return self.checks

    @property
    def goal(self) -> str:
        """The goal in words, e.g. ``kagura.share_429 <= 0.005, ratio_to_ideal >= 0.95`` ("" when none)."""
        return ", ".join(f"{metric} {op} {limit:g}" for metric, op, limit in self.goal_checks)

    @property
    def met(self) -> bool | None:
        """Whether every check of the goal holds (None: the row has no goal, or a metric is missing)."""
        results = []
        for metric, op, limit in self.goal_checks:
            value = self._metric(metric)
            if value is None:
                return None
            results.append(value <= limit if op == "<=" else value >= limit)
        return all(results) if results else None

    def _metric(self, name: str) -> float | None:
        if name in ("ratio_to_ideal", "speedup", "improvement"):
            value: Any = getattr(self, name)
        else:
            value = self.extra
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

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
        data.update(improvement=self.improvement, speedup=self.speedup, ratio_to_ideal=self.ratio_to_ideal,
                    goal=self.goal, met=self.met)  # fmt: skip
        return data


def quota_used(per_second: dict[int, int], first: int, last: int, rate_per_s: float) -> float:
    """Share of a provider quota (``rate_per_s`` units a second) used over whole seconds ``[first, last)``,
    from the server's per-second counts (``admitted_per_second``, ``tokens_per_second``)."""
    seconds = max(1, last - first)
    return sum(per_second.get(s, 0) for s in range(first, last)) / (rate_per_s * seconds)
