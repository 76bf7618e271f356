"""The side lane of ``kagura bench``: benchmarks run one after another in a child process of their own
while this process runs the others (``kagura.bench._runner.SIDE`` says which).

The child (``python -m kagura.bench._lane [--quick | --full] --latency L NAME=MODULE ...``) prints one
line per event on its stdout, each starting with :data:`MARK`: ``start``, ``done`` (the rows, the wall and
CPU seconds of that benchmark: its own and its children's), ``skip`` (a local service could not start),
``error`` (it stops there), and ``exit`` (the child's whole CPU). Any other line a benchmark prints is
passed on to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import inspect
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from kagura.bench._report import BenchRow
from kagura.errors import ServiceUnavailableError

MARK = "kagura-bench-lane "
_LINE_LIMIT = 64 * 1024 * 1024  # one event line holds a benchmark's rows


def cpu_seconds() -> float:
    """User + system CPU of this process and of the children it has waited for."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def row_from_dict(data: dict[str, Any]) -> BenchRow:
    """A row as the child sent it (its fields; the derived ones are computed again)."""
    fields = {f.name for f in dataclasses.fields(BenchRow)}
    row = BenchRow(**{key: value for key, value in data.items() if key in fields})
    row.checks = [(str(metric), str(op), float(limit)) for metric, op, limit in row.checks]
    return row


async def run_side(
    modules: list[tuple[str, str]],
    *,
    latency: float,
    quick: bool,
    full: bool,
    on_event: Callable[[dict[str, Any]], None],
) -> None:
    """Run ``modules`` (name, module) in one child process, one after another; ``on_event`` gets each
    event as it comes. The child is killed if this is cancelled; it sees the modules this process sees."""
    scale = ["--quick"] if quick else ["--full"] if full else []
    args = [sys.executable, "-m", "kagura.bench._lane", "--latency", repr(latency), *scale]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    proc = await asyncio.create_subprocess_exec(
        *args, *(f"{name}={module}" for name, module in modules),
        stdout=asyncio.subprocess.PIPE, env=env, limit=_LINE_LIMIT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if line.startswith(MARK):
                on_event(json.loads(line[len(MARK) :]))
            else:
                print(line, file=sys.stderr)
        code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if code != 0:
        on_event({"event": "error", "name": "side lane", "error": f"its process exited with {code}"})


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


async def _child(modules: list[tuple[str, str]], latency: float, quick: bool, full: bool) -> int:
    for name, module_name in modules:
        _emit({"event": "start", "name": name})
        module = importlib.import_module(module_name)
        scale = {"full": True} if full and "full" in inspect.signature(module.run).parameters else {}
        cpu, started = cpu_seconds(), time.perf_counter()
        try:
            rows = await module.run(latency=latency, quick=quick, **scale)
        except ServiceUnavailableError as exc:
            _emit({"event": "skip", "name": name, "reason": str(exc)})
            continue
        except Exception as exc:
            traceback.print_exc()
            _emit({"event": "error", "name": name, "error": f"{type(exc).__name__}: {exc}"})
            return 1
        wall, used = time.perf_counter() - started, cpu_seconds() - cpu
        _emit({"event": "done", "name": name, "rows": [dataclasses.asdict(row) for row in rows],
               "wall_s": round(wall, 2), "cpu_s": round(used, 2)})  # fmt: skip
    _emit({"event": "exit", "cpu_s": round(cpu_seconds(), 2)})
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="kagura bench's side lane (run by kagura bench)")
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("modules", nargs="+", metavar="NAME=MODULE")
    options = parser.parse_args()
    modules = [tuple(item.split("=", 1)) for item in options.modules]
    if any(len(pair) != 2 for pair in modules):
        parser.error("each benchmark is NAME=MODULE")
    pairs = [(name, module) for name, module in modules]
    sys.exit(asyncio.run(_child(pairs, options.latency, options.quick, options.full)))


if __name__ == "__main__":
    main()
