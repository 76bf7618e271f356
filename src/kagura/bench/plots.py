"""``kagura bench plot``: two pictures for the performance guide (needs the ``kagura[plot]`` extra).

1. *Scaling*: wall time of N ``call_llm`` calls against the loopback fake server (in its own process) at
   concurrency 1, 5, 10 and 20, each beside its ideal ``ceil(N/C)·L``. Measured for real, in one run.
2. *RPM budget*: requests started per trailing 60 s window while a saturated ``parallel_map`` runs under
   a :class:`~kagura.core.parallel.RateLimiter`. The run uses the scheduler's real limiter and pool on an
   event loop whose clock is virtual (``looptime``), so minutes of budget take milliseconds to replay.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kagura.errors import ConfigurationError

SIZES = (5, 10, 20, 50)
CONCURRENCIES = (1, 5, 10, 20)


@dataclass(frozen=True)
class ScalingPoint:
    files: int
    concurrency: int
    seconds: float
    ideal: float


@dataclass(frozen=True)
class BudgetTrace:
    requests_per_minute: int
    start_times: list[float]

    def window_counts(self, step: float = 1.0) -> tuple[list[float], list[int]]:
        """Requests started in the trailing 60 s window, sampled every ``step`` seconds."""
        times = sorted(self.start_times)
        end = times[-1] if times else 0.0
        xs, ys = [], []
        lo = hi = 0
        t = 0.0
        while t <= end + step:
            while hi < len(times) and times[hi] <= t:
                hi += 1
            while lo < hi and times[lo] <= t - 60.0:
                lo += 1
            xs.append(t)
            ys.append(hi - lo)
            t += step
        return xs, ys

    @property
    def peak_window(self) -> int:
        """The most requests any 60 s window ``(t - 60, t]`` holds, over every start time t."""
        times = sorted(self.start_times)
        peak, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - 60.0:
                lo += 1
            peak = max(peak, hi - lo + 1)
        return peak


async def measure_scaling(
    latency: float, sizes: Sequence[int] = SIZES, concurrencies: Sequence[int] = CONCURRENCIES
) -> list[ScalingPoint]:
    """Time ``parallel_map(call_llm, ...)`` for every (files, concurrency) against the fake server."""
    from kagura.core.llm import LLMConfig, call_llm
    from kagura.core.parallel import parallel_map
    from kagura.testing import FakeLLMProcess

    points: list[ScalingPoint] = []
    async with FakeLLMProcess(latency=latency) as server:  # its own process, like a remote server
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="bench")

        async def describe(index: int) -> str:
            return await call_llm(f"Describe file number {index}", config)

        await describe(-1)  # warm the client's connection pool before timing anything
        for concurrency in concurrencies:
            for files in sizes:
                started = time.perf_counter()
                await parallel_map(describe, range(files), max_concurrent=concurrency)
                elapsed = time.perf_counter() - started
                points.append(
                    ScalingPoint(files, concurrency, elapsed, math.ceil(files / concurrency) * latency)
                )
    return points


def simulate_budget(
    requests_per_minute: int = 120, requests: int = 480, latency: float = 1.5, max_concurrent: int = 20
) -> BudgetTrace:
    """Replay a saturated run under an RPM budget on a virtual clock; return when each request started."""
    try:
        import looptime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError("the budget plot needs looptime: pip install 'kagura[plot]'") from exc
    from kagura.core.parallel import RateLimiter, parallel_map

    loop = looptime.new_event_loop(start=0.0)
    starts: list[float] = []

    async def run() -> None:
        limiter = RateLimiter(requests_per_minute=requests_per_minute, clock=loop.time)

        async def call(_: int) -> None:
            starts.append(loop.time())
            await asyncio.sleep(latency)

        await parallel_map(call, range(requests), max_concurrent=max_concurrent, limiters=[limiter])

    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    return BudgetTrace(requests_per_minute, starts)


def render(points: list[ScalingPoint], trace: BudgetTrace, out_dir: Path, latency: float) -> list[Path]:
    """Write ``scaling.png`` and ``rpm-budget.png`` into ``out_dir``; return their paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigurationError("plots need matplotlib: pip install 'kagura[plot]'") from exc

    out_dir.mkdir(parents=True, exist_ok=True)
    fig: Any
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for concurrency in sorted({p.concurrency for p in points}):
        mine = [p for p in points if p.concurrency == concurrency]
        line = ax.plot([p.files for p in mine], [p.seconds for p in mine], "o-", label=f"C={concurrency}")
        ax.plot([p.files for p in mine], [p.ideal for p in mine], ":", color=line[0].get_color())
    ax.set_xlabel("LLM calls (files)")
    ax.set_ylabel("wall time (s)")
    ax.set_title(f"parallel_map over the loopback fake LLM (latency {latency} s); dotted: ideal ceil(N/C)·L")
    ax.title.set_fontsize(9)
    ax.legend()
    ax.grid(alpha=0.3)
    scaling = out_dir / "scaling.png"
    fig.savefig(scaling, dpi=110, bbox_inches="tight")
    plt.close(fig)

    xs, ys = trace.window_counts()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, ys, label="requests started in the trailing 60 s")
    ax.axhline(trace.requests_per_minute, color="red", linestyle="--", label="budget (RPM)")
    ax.set_xlabel("time (s, virtual clock)")
    ax.set_ylabel("requests per 60 s window")
    ax.set_title(f"RateLimiter(requests_per_minute={trace.requests_per_minute}), saturated parallel_map")
    ax.title.set_fontsize(9)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    budget = out_dir / "rpm-budget.png"
    fig.savefig(budget, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [scaling, budget]
