"""Run the registered benchmarks and collect their rows.

Each benchmark is a module ``kagura.bench.<name>`` exposing
``async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]``;
modules are imported only when their benchmark runs, so ``kagura bench overhead`` never imports the LLM or
RAG stacks.

Three scales: ``quick`` (a smoke run of a few seconds each, for CI), the default (sizes chosen so that
``kagura bench`` runs every benchmark within a 90 s budget on a 2-core machine) and
``full`` (the sizes of the tables in docs/en/guides/performance-optimization.md, several minutes). A module
whose ``run`` takes no ``full`` has one size for both.
"""

from __future__ import annotations

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


async def run_benchmarks(
    names: Iterable[str],
    *,
    latency: float,
    quick: bool = False,
    full: bool = False,
    on_start: Callable[[str], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    on_done: Callable[[str, dict[str, float]], None] | None = None,
) -> dict[str, list[BenchRow]]:
    """Run each named benchmark in turn (never concurrently: they would disturb each other's timings).

    A benchmark whose local service cannot start (``redis-server`` not installed, say) is left out of the
    results and reported to ``on_skip(name, reason)``; without ``on_skip`` its error propagates.
    ``on_done(name, cost)`` gets what each one took: ``wall_s``, and ``cpu_s`` (this process's CPU plus
    that of the child processes it waited for: on a shared machine the wall time varies, CPU much less).
    """
    if latency < 0:
        raise ValueError(f"latency must be >= 0 seconds, got {latency}")
    if quick and full:
        raise ValueError("choose quick or full, not both")
    results: dict[str, list[BenchRow]] = {}
    for name in names:
        if on_start is not None:
            on_start(name)
        module = importlib.import_module(BENCHMARKS[name])
        scale = {"full": True} if full and "full" in inspect.signature(module.run).parameters else {}
        started, cpu = time.perf_counter(), _cpu_seconds()
        try:
            results[name] = await module.run(latency=latency, quick=quick, **scale)
        except ServiceUnavailableError as exc:
            if on_skip is None:
                raise
            on_skip(name, str(exc))
            continue
        if on_done is not None:
            on_done(name, {"wall_s": round(time.perf_counter() - started, 2),
                           "cpu_s": round(_cpu_seconds() - cpu, 2)})  # fmt: skip
    return results


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
    costs: dict[str, dict[str, float]] | None = None,
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
