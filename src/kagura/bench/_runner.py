"""Run the registered benchmarks and collect their rows.

Each benchmark is a module ``kagura.bench.<name>`` exposing
``async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]``;
modules are imported only when their benchmark runs, so ``kagura bench overhead`` never imports the LLM or
RAG stacks.

Three scales: ``quick`` (a smoke run of a few seconds each, for CI), the default (sizes at which each row
still shows its claim, toward a 90 s ``kagura bench`` on a quiet 2-core machine; the benchmarks that
mostly wait run at the same time, see :data:`WAITING`) and
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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kagura.bench._report import BenchRow
from kagura.errors import ServiceUnavailableError

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
this process's CPU is a small share of their time. Every other benchmark runs alone: the CPU-bound ones;
``quota``, whose two clients share this process's event loop (the naive client's 429 storm is CPU) while
scenario a times a wall clock to 5 % of its ideal; and ``batch``, whose online ``kagura run`` processes
call at 200 a second (most of a core) against a deadline. In a group of all four on a loaded machine,
quota a and b, batch's tightest deadline and shared's adaptive row moved."""


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
) -> dict[str, list[BenchRow]]:
    """Run each named benchmark in turn; the waiting ones (:data:`WAITING`) together, the others alone
    (CPU-bound ones would disturb each other's timings).

    A benchmark whose local service cannot start (``redis-server`` not installed, say) is left out of the
    results and reported to ``on_skip(name, reason)``; without ``on_skip`` its error propagates.
    ``on_done(name, cost)`` gets what each one took: ``wall_s``, and ``cpu_s`` (this process's CPU plus
    that of the child processes it waited for: on a shared machine the wall time varies, CPU much less).
    For benchmarks run together, ``cpu_s`` is the whole group's and ``concurrent_with`` names the others.
    Results come back in the order of ``names``.
    """
    if latency < 0:
        raise ValueError(f"latency must be >= 0 seconds, got {latency}")
    if quick and full:
        raise ValueError("choose quick or full, not both")
    names = list(names)
    results: dict[str, list[BenchRow]] = {}

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

    for group in _steps(names):
        cpu = _cpu_seconds()
        outcomes = await asyncio.gather(*(one(name, group) for name in group))
        group_cpu = round(_cpu_seconds() - cpu, 2)
        for name, (wall, error) in zip(group, outcomes, strict=True):
            if error is not None:
                raise error
            if on_done is not None and name in results:
                cost: dict[str, Any] = {"wall_s": round(wall, 2), "cpu_s": group_cpu}
                if len(group) > 1:
                    cost["concurrent_with"] = [other for other in group if other != name]
                on_done(name, cost)
    return {name: results[name] for name in names if name in results}


def _cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has waited for."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


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
