"""Run the registered benchmarks and collect their rows.

Each benchmark is a module ``kagura.bench.<name>`` exposing
``async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]``;
modules are imported only when their benchmark runs, so ``kagura bench overhead`` never imports the LLM or
RAG stacks.

Three scales: ``quick`` (a smoke run of a few seconds each, for CI), the default (sizes at which each row
still shows its claim, toward a 90 s ``kagura bench`` on a quiet 2-core machine: the benchmarks that
mostly wait run in this process while the CPU-bound ones run in a child process, see :data:`SIDE`) and
``full`` (the sizes of the tables in docs/en/guides/performance-optimization.md, several minutes). A module
whose ``run`` takes no ``full`` has one size for both.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import platform
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from kagura.bench._lane import cpu_seconds, row_from_dict, run_side
from kagura.bench._report import BenchRow
from kagura.errors import ServiceUnavailableError, WorkerProcessError

BENCHMARKS: dict[str, str] = {
    "overhead": "kagura.bench.overhead",
    "llm": "kagura.bench.llm",
    "router": "kagura.bench.router",
    "ingest": "kagura.bench.ingest",
    "quota": "kagura.bench.quota",
    "shared": "kagura.bench.shared",
    "embed": "kagura.bench.embed",
    "corpus": "kagura.bench.corpus",
    "mixed": "kagura.bench.mixed",
    "store": "kagura.bench.store",
    "structured": "kagura.bench.structured",
    "tracing": "kagura.bench.tracing",
    "jobs": "kagura.bench.jobs",
    "batch": "kagura.bench.batch",
    "ray": "kagura.bench.ray",
}
"""Benchmark name -> module, in the order ``all`` runs them."""
OPT_IN = frozenset({"ray"})
"""Run only when named: ``all`` leaves them out (``ray`` starts a Ray cluster, needs ``kagura[ray]``)."""
WAITING = ("router", "shared")
"""Benchmarks that mostly wait (on the fake server's latency, on worker processes of their own that call
at 20 requests a second): when both are asked for, they run at the same time, at the place of the first.
What they measure are counts at their own fake servers (requests, 429s, quota used) and seconds-long waits;
this process's CPU is a small share of their time. Every other benchmark runs alone on its loop (the
CPU-bound ones in the side lane's process, :data:`SIDE`): ``quota``, whose two clients share this process's
event loop (the naive client's 429 storm is CPU) while scenario a times a wall clock to 5 % of its
ideal; and ``batch``, whose online ``kagura run`` processes call at 200 a second (most of a core) against a
deadline. In a group of all four on a loaded machine,
quota a and b, batch's tightest deadline and shared's adaptive row moved."""
SIDE = ("llm", "ingest", "corpus", "mixed", "store", "structured", "tracing")
"""Benchmarks that run in a child process of their own, one after another, while this process runs the
others but :data:`LAST` (``kagura.bench._lane``): each has its own interpreter and event loop there, so
nothing of the other lane runs on its loop, and on two cores each lane has one. What they measure is
their own process's work (corpus, mixed, structured, tracing: one core), ratios within one
benchmark, or counts (store, ingest, llm); the others (router and shared, quota, batch) wait on their
own fake servers and worker processes, and stay here. The two lanes take about as long (at load 2.4-3.8:
38 s for these, 53 s for those with llm among them: 5 s of it)."""
FRESH = ("embed",)
"""Of :data:`LAST`, those that run in a fresh child process of their own, as ``kagura bench embed`` alone
does: embed's numpy baseline ran 5-7x faster in a process that had run the waiting benchmarks before
(0.65 s for 8 chunks against 3.2-4.6 s fresh), which made its ONNX speed-up read 2.1x instead of 4-7x."""
LAST = ("overhead", "embed", "jobs")
"""Benchmarks that run alone after both lanes, when others are asked for too: embed and jobs each need
both cores (embed's two ONNX threads; jobs' ``kagura run`` processes beside the fake server's, whose
adaptive row fell from 100 % to 78 % of the quota while the side lane ran on a loaded machine); overhead
times runs of a few milliseconds, which the other lane's process starts (fake servers, worker fleets)
pushed to 3x the bare pool's on a loaded machine (1x alone)."""


def resolve_names(which: str, *, also: tuple[str, ...] = ()) -> list[str]:
    """``"all"`` -> every benchmark but the opt-in ones; otherwise the one named, or ValueError listing
    the choices.

    ``also`` names further choices the caller handles itself (the CLI's ``plot``), listed in the error.
    """
    if which == "all":
        return [name for name in BENCHMARKS if name not in OPT_IN]
    if which not in BENCHMARKS:
        choices = ", ".join(["all", *BENCHMARKS, *also])
        raise ValueError(f"unknown benchmark {which!r}: choose one of {choices}")
    return [which]


def _steps(names: list[str]) -> list[list[str]]:
    """The order of work: one step per benchmark, except the waiting ones (:data:`WAITING`), which share
    one step at the place of the first of them."""
    waiting = [name for name in names if name in WAITING]
    steps: list[list[str]] = []
    for name in names:
        if name not in WAITING or len(waiting) < 2:
            steps.append([name])
        elif name == waiting[0]:
            steps.append(waiting)
    return steps


async def run_benchmarks(
    names: Iterable[str],
    *,
    latency: float,
    quick: bool = False,
    full: bool = False,
    on_start: Callable[[str], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    on_done: Callable[[str, dict[str, Any]], None] | None = None,
    side: Collection[str] = SIDE,
) -> dict[str, list[BenchRow]]:
    """Run each named benchmark in turn; the waiting ones (:data:`WAITING`) together, the others alone
    (CPU-bound ones would disturb each other's timings). When others are asked for too, the benchmarks
    named in ``side`` (:data:`SIDE`) run one after another in a child process meanwhile (its own event
    loop and interpreter: ``kagura.bench._lane``), and those of :data:`LAST` alone after both lanes.

    A benchmark whose local service cannot start (``redis-server`` not installed, say) is left out of the
    results and reported to ``on_skip(name, reason)``; without ``on_skip`` its error propagates.
    ``on_done(name, cost)`` gets what each one took: ``wall_s``, and ``cpu_s`` (this process's CPU plus
    that of the child processes it waited for: on a shared machine the wall time varies, CPU much less).
    For benchmarks run together, ``cpu_s`` is the whole group's and ``concurrent_with`` names the others;
    a benchmark run in a child process says so in its cost (``"lane": "side lane"`` or ``"own process"``,
    :data:`FRESH`) and its ``cpu_s`` is its own.
    Results come back in the order of ``names``.
    """
    if latency < 0:
        raise ValueError(f"latency must be >= 0 seconds, got {latency}")
    if quick and full:
        raise ValueError("choose quick or full, not both")
    names = list(names)
    beside = [name for name in names if name in side]
    if len(beside) == len(names):
        beside = []  # nothing else to run meanwhile: they run here, one after another
    last = [name for name in names if name in LAST] if beside else []
    results: dict[str, list[BenchRow]] = {}
    side_cpu = _SideCpu()

    async def one(name: str, group: list[str]) -> tuple[float, BaseException | None]:
        if on_start is not None:
            on_start(name)
        module = importlib.import_module(BENCHMARKS[name])
        scale = {"full": True} if full and "full" in inspect.signature(module.run).parameters else {}
        started = time.perf_counter()
        try:
            results[name] = await module.run(latency=latency, quick=quick, **scale)
        except ServiceUnavailableError as exc:
            if on_skip is None:
                return 0.0, exc
            on_skip(name, str(exc))
        except Exception as exc:  # the others of the group finish first; then it propagates
            if len(group) == 1:
                raise
            return 0.0, exc
        return time.perf_counter() - started, None

    async def steps(ordered: list[str]) -> None:
        for group in _steps(ordered):
            cpu, reaped = cpu_seconds(), side_cpu.reaped()
            outcomes = await asyncio.gather(*(one(name, group) for name in group))
            # the side lane's process, if reaped meanwhile, is not this group's CPU
            group_cpu = round(cpu_seconds() - cpu - (side_cpu.reaped() - reaped), 2)
            for name, (wall, error) in zip(group, outcomes, strict=True):
                if error is not None:
                    raise error
                if on_done is not None and name in results:
                    cost: dict[str, Any] = {"wall_s": round(wall, 2), "cpu_s": group_cpu}
                    if len(group) > 1:
                        cost["concurrent_with"] = [other for other in group if other != name]
                    on_done(name, cost)

    errors: list[str] = []

    def side_event(event: dict[str, Any], lane: str = "side lane") -> None:
        kind, name = event["event"], event.get("name", "")
        if kind == "start" and on_start is not None:
            on_start(name)
        elif kind == "done":
            results[name] = [row_from_dict(row) for row in event["rows"]]
            if on_done is not None:
                on_done(name, {"wall_s": event["wall_s"], "cpu_s": event["cpu_s"], "lane": lane})
        elif kind == "skip" and on_skip is not None:
            on_skip(name, event["reason"])
        elif kind in ("skip", "error"):
            errors.append(f"{name}: {event.get('reason') or event.get('error')}")
        elif kind == "exit" and lane == "side lane":
            side_cpu.total = float(event["cpu_s"])

    async def side_lane() -> None:
        if beside:
            modules = [(name, BENCHMARKS[name]) for name in beside]
            await run_side(modules, latency=latency, quick=quick, full=full, on_event=side_event)
            side_cpu.done = True

    async with asyncio.TaskGroup() as lanes:  # an error in one lane cancels the other (and kills the child)
        lanes.create_task(steps([name for name in names if name not in beside and name not in last]))
        lanes.create_task(side_lane())
    if errors:
        raise WorkerProcessError("kagura bench's side lane failed: " + "; ".join(errors))
    for name in last:
        if name not in FRESH:
            await steps([name])
            continue
        await run_side([(name, BENCHMARKS[name])], latency=latency, quick=quick, full=full,
                       on_event=lambda event: side_event(event, "own process"))  # fmt: skip
        if errors:
            raise WorkerProcessError(f"kagura bench {name} failed in its own process: " + "; ".join(errors))
    return {name: results[name] for name in names if name in results}


class _SideCpu:
    """The side lane process's whole CPU once it has been reaped (0 before)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.done = False

    def reaped(self) -> float:
        return self.total if self.done else 0.0


def environment() -> dict[str, Any]:
    """What a reader needs to compare two result files."""
    import kagura

    return {
        "kagura": kagura.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def results_as_json(
    results: dict[str, list[BenchRow]],
    *,
    latency: float,
    quick: bool,
    full: bool = False,
    skipped: dict[str, str] | None = None,
    costs: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The results as the JSON ``--out`` writes; ``skipped``: benchmark name -> why it did not run;
    ``costs``: benchmark name -> its ``wall_s`` and ``cpu_s`` (``run_benchmarks``' ``on_done``)."""
    payload = {
        "environment": environment(),
        "latency_s": latency,
        "quick": quick,
        "full": full,
        "benchmarks": {name: [row.as_dict() for row in rows] for name, rows in results.items()},
        "skipped": dict(skipped or {}),
        "seconds": dict(costs or {}),
    }
    return json.dumps(payload, indent=2, default=str)


def write_json(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
