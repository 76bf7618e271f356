"""``kagura bench shared``: several worker processes, one provider quota, budgets shared through Redis.

A private ``redis-server`` and the quota-enforcing fake provider (its own process) run on loopback. Every
worker process calls the provider with the same API key, so they all draw on one quota, enforced per
second (a token bucket of one second of rate) as providers do. Side by side in one run:

- **local**: each process enforces the budget alone (what every process did before shared budgets), so N
  processes spend N times the quota;
- **shared**: ``RateLimiter(..., redis=URL, key=...)`` through ``LLMConfig(redis_url=...)``: one budget.

Scenarios: (1) a known quota, 4 processes x 150 calls, C=50 each; (1b) the same from cold workers (SDK
client built on the first calls), with the budget on ``parallel_map``'s limiter around ``call_llm`` and on
``LLMConfig(redis_url=...)``; (2) nothing configured but the Redis URL
(shared adaptive control) against the same processes each adapting alone; (3) scenario 1 with Redis killed
a third of the way in and restarted at two thirds; (4) the cost of one shared admission (p50, p99).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from kagura.bench._report import BenchRow, quota_used
from kagura.core.parallel import RateLimiter
from kagura.errors import WorkerProcessError
from kagura.testing import FakeLLMProcess

__all__ = ["Sizes", "run"]


@dataclass(frozen=True)
class Sizes:
    processes: int = 4
    calls: int = 150
    concurrency: int = 50
    rpm: float = 1200
    adaptive_seconds: float = 40.0
    warmup_seconds: float = 10.0
    acquires: int = 2000

    @classmethod
    def default(cls) -> Sizes:
        """``kagura bench`` without a scale: a part of its 90 s budget (``--full`` for the guide's sizes)."""
        return cls(processes=2, calls=24, concurrency=10, adaptive_seconds=3.0, warmup_seconds=1.0,
                   acquires=300)  # fmt: skip

    @classmethod
    def quick(cls) -> Sizes:
        return cls.default()  # already seconds: the smoke run checks the same scenarios


@dataclass
class Fleet:
    """What one set of worker processes did (client side) and what the provider saw (server side)."""

    workers: list[dict[str, Any]]
    wall_s: float
    requests: int
    rate_limited: int
    admitted_per_second: dict[int, int]

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0

    def fairness(self) -> float:
        """The largest deviation of one process's call rate from the mean rate (0.1 = within 10 %)."""
        rates = [w["calls"] / w["wall_s"] for w in self.workers if w["wall_s"] > 0]
        mean = statistics.fmean(rates) if rates else 0.0
        return max((abs(r - mean) / mean for r in rates), default=0.0) if mean else 0.0

    def metrics(self, rate_per_s: float, burst: float, warmup: int = 0) -> dict[str, Any]:
        end = int(self.wall_s)
        return {
            "wall_s": round(self.wall_s, 2),
            "calls": sum(w["calls"] for w in self.workers),
            "failed": sum(w["failed"] for w in self.workers),
            "requests": self.requests,
            "http_429": self.rate_limited,
            "share_429": round(self.share_429, 4),
            "quota_used": round(quota_used(self.admitted_per_second, warmup, end, rate_per_s), 3),
            "busiest_second_vs_quota": round(
                max(self.admitted_per_second.values(), default=0) / (rate_per_s + burst), 3
            ),
            "fairness_max_deviation": round(self.fairness(), 3),
        }


class Workers:
    """``processes`` worker processes (:mod:`kagura.bench._shared_worker`) started once, serving one
    scenario after another against one fake server: each scenario is sent to every worker, which sets it
    up and says it is ready; once all are ready they are told to go at once (no fixed start delay: the
    wait is as long as the slowest worker's set-up, and nothing a scenario does, such as killing Redis,
    can happen while a worker is still importing)."""

    def __init__(self, server: FakeLLMProcess, processes: int) -> None:
        self.server, self.processes = server, processes
        self._procs: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Workers:
        argv = [sys.executable, "-m", "kagura.bench._shared_worker", self.server.base_url]
        for _ in range(self.processes):
            self._procs.append(
                await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
                )
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self._procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    async def _send(self, proc: asyncio.subprocess.Process, line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line.encode() + b"\n")
        await proc.stdin.drain()

    async def _receive(self, proc: asyncio.subprocess.Process) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            raise WorkerProcessError(f"a kagura bench shared worker exited ({await proc.wait()})")
        return dict(json.loads(line))

    async def run(self, command: dict[str, Any], during: Any = None) -> Fleet:
        """Run one scenario on every worker; the server's counters are read when all have finished."""
        for proc in self._procs:
            await self._send(proc, json.dumps(command))
        await asyncio.gather(*(self._receive(proc) for proc in self._procs))  # every one is ready
        await self.server.reset_stats()
        began = time.perf_counter()
        for proc in self._procs:
            await self._send(proc, "go")
        extra = [asyncio.ensure_future(during())] if during is not None else []
        workers = list(await asyncio.gather(*(self._receive(proc) for proc in self._procs)))
        wall = time.perf_counter() - began
        for task in extra:
            await task
        stats = await self.server.stats()
        return Fleet(
            workers=workers,
            wall_s=wall,
            requests=int(stats["chat_requests"]),
            rate_limited=int(stats["over_quota"]),
            admitted_per_second={int(k): int(v) for k, v in stats["admitted_per_second"].items()},
        )


def _command(
    s: Sizes, key: str, *, redis: str | None, rpm: float | None, calls: int = 0, seconds: float = 0.0,
    via: str = "client", cold: bool = False,
) -> dict[str, Any]:  # fmt: skip
    return {"key": key, "calls": calls, "seconds": seconds, "concurrency": s.concurrency,
            "rpm": int(rpm) if rpm else None, "redis": redis, "via": via, "cold": cold}  # fmt: skip


def _row(operation: str, items: int, fleets: dict[str, Fleet], goal: str, rate: float, burst: float,
         warmup: int = 0, checks: list[tuple[str, str, float]] | None = None) -> BenchRow:  # fmt: skip
    extra: dict[str, Any] = {"goal": goal}
    for name, fleet in fleets.items():
        extra[name] = fleet.metrics(rate, burst, warmup)
    first, last = next(iter(fleets.values())), list(fleets.values())[-1]
    return BenchRow(operation, items, first.wall_s, last.wall_s, extra=extra, checks=checks or [])


async def _admission_cost(url: str, n: int) -> BenchRow:
    """Seconds per ``acquire`` with a budget that never makes anyone wait: the round trip alone."""
    local = RateLimiter(requests_per_minute=1e9, burst=1e9)
    shared = RateLimiter(requests_per_minute=1e9, burst=1e9, redis=url, key="bench:cost")
    timings: dict[str, list[float]] = {"local": [], "shared": []}
    for name, limiter in (("local", local), ("shared", shared)):
        await limiter.acquire()  # connect first
        for _ in range(n):
            t = time.perf_counter()
            await limiter.acquire()
            timings[name].append(time.perf_counter() - t)
    assert shared.shared is not None
    await shared.shared.close()

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    extra = {
        "goal": "<= 0.5 ms per shared acquire on loopback (p50), p99 reported",
        **{f"{name}_p50_ms": round(pct(v, 0.5), 4) for name, v in timings.items()},
        **{f"{name}_p99_ms": round(pct(v, 0.99), 4) for name, v in timings.items()},
    }
    return BenchRow(
        f"admission cost, {n} acquires (local vs one Redis script call)", n,
        statistics.fmean(timings["local"]), statistics.fmean(timings["shared"]), extra=extra,
        checks=[("shared_p50_ms", "<=", 0.5)],
    )  # fmt: skip


async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """Every scenario in one run (``full``: the issue's sizes; default: smaller; ``quick``: seconds).

    Two fleets of workers, each with its own fake server (so each server's counters are its fleet's), run
    the two sides of a comparison at the same time: they are separate processes on separate quotas and
    mostly wait. The Redis-outage scenario runs alone (Redis is killed under it).
    """
    from kagura.testing import RedisServer

    s = Sizes.quick() if quick else Sizes() if full else Sizes.default()
    rate, burst = s.rpm / 60, s.rpm / 60
    rows: list[BenchRow] = []
    with RedisServer() as redis:
        async with AsyncExitStack() as stack:
            servers = await asyncio.gather(
                *(stack.enter_async_context(FakeLLMProcess(latency, quota_rpm=s.rpm)) for _ in "ab")
            )
            a, b = [await stack.enter_async_context(Workers(server, s.processes)) for server in servers]
            label = f"{s.processes} processes x {s.calls} calls, C={s.concurrency}, one {s.rpm:g} RPM quota"
            # The cold scenario first: the workers' first calls of their lives build the SDK client.
            sched, client = await asyncio.gather(
                a.run(_command(s, "k-sched", redis=redis.url, rpm=s.rpm, calls=s.calls, via="scheduler",
                               cold=True)),
                b.run(_command(s, "k-cold", redis=redis.url, rpm=s.rpm, calls=s.calls, cold=True)),
            )  # fmt: skip
            local, shared = await asyncio.gather(
                a.run(_command(s, "k-local", redis=None, rpm=s.rpm, calls=s.calls)),
                b.run(_command(s, "k-shared", redis=redis.url, rpm=s.rpm, calls=s.calls)),
            )
            rows.append(_row(
                f"1. known quota: {label}", s.processes * s.calls, {"local": local, "shared": shared},
                "<= 0.5% 429, >= 95% of quota used, each process within +-20% of a fair share", rate, burst,
                checks=[("shared.share_429", "<=", 0.005), ("shared.quota_used", ">=", 0.95),
                        ("shared.fairness_max_deviation", "<=", 0.2)],
            ))  # fmt: skip
            rows.append(_row(
                "1b. cold workers, the budget set either way: parallel_map(limiters=[RateLimiter(redis=...)])"
                f" around call_llm (3 attempts) vs LLMConfig(redis_url=...): {label}",
                s.processes * s.calls, {"scheduler": sched, "client": client}, "<= 0.5% 429, no call lost",
                rate, burst,
            ))  # fmt: skip
            seconds = s.adaptive_seconds
            adaptive: dict[str, Fleet] = dict(zip(("local", "shared"), await asyncio.gather(
                a.run(_command(s, "a-local", redis=None, rpm=None, seconds=seconds)),
                b.run(_command(s, "a-shared", redis=redis.url, rpm=None, seconds=seconds)),
            ), strict=True))  # fmt: skip
            rows.append(_row(
                f"2. nothing configured but the Redis URL (shared adaptive): {s.processes} processes, "
                f"{seconds:g} s, C={s.concurrency}", 0, adaptive,
                f"<= 5% 429, >= 90% of quota used after {s.warmup_seconds:g} s", rate, burst,
                int(s.warmup_seconds),
                checks=[("shared.share_429", "<=", 0.05), ("shared.quota_used", ">=", 0.9)],
            ))  # fmt: skip
            expected = s.processes * s.calls / rate

            async def outage() -> None:  # starts once every worker is ready and told to go
                await asyncio.sleep(expected / 3)
                redis.kill()
                await asyncio.sleep(expected / 3)
                redis.restart()

            lost = {"shared": await b.run(
                _command(s, "k-outage", redis=redis.url, rpm=s.rpm, calls=s.calls), during=outage
            )}  # fmt: skip
            rows.append(_row(
                f"3. Redis killed at {expected / 3:.1f} s and restarted at {2 * expected / 3:.1f} s: {label}",
                s.processes * s.calls, lost,
                "completes, no 429 storm, busiest second never above the quota's second + burst",
                rate, burst,
                checks=[("shared.failed", "<=", 0), ("shared.busiest_second_vs_quota", "<=", 1.0)],
            ))  # fmt: skip
        rows.append(await _admission_cost(redis.url, s.acquires))
    return rows
