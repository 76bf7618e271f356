"""``kagura run`` over the lean HTTP path and over the ``openai`` SDK (``KAGURA_HTTP=sdk``), side by side.

N short-form lines at latency 0 against a :class:`~kagura.testing.FakeLLMProcess` (its own process); each
``kagura run`` is its own process, measured alone (CPU seconds and peak RSS through
``kagura.bench._measured``). The paths alternate for ``--rounds`` rounds, so a busy machine weighs on both;
one JSON line per run, then the ratios::

    .venv/bin/python scripts/http_paths.py 100000 --rounds 1

``--src DIR`` (repeatable: checkouts' ``src`` folders, side by side) runs each checkout's code through
``PYTHONPATH``; ``--paths lean`` runs only that path::

    git worktree add --detach /tmp/old main
    .venv/bin/python scripts/http_paths.py 300000 --paths lean --src /tmp/old/src --src src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kagura.testing import FakeLLMProcess


def _lines(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"custom_id": f"q{i}", "prompt": f"label item {i}"}) + "\n")
    return path


async def _one(
    mode: str,
    requests: Path,
    tmp: Path,
    server: FakeLLMProcess,
    calls: int,
    concurrency: int,
    src: str | None = None,
) -> dict[str, Any]:
    out, rusage = tmp / f"out-{mode}.jsonl", tmp / f"rusage-{mode}.json"
    for stale in await asyncio.to_thread(lambda: list(tmp.glob(f"out-{mode}.jsonl*"))):
        await asyncio.to_thread(stale.unlink)
    env = {**os.environ, "KAGURA_HTTP": mode, "KAGURA_BENCH_RUSAGE": str(rusage)}
    if src is not None:
        env["PYTHONPATH"] = src
    args = ["-m", "kagura.bench._measured", "kagura.cli", "run", str(requests), "--out", str(out),
            "--base-url", server.base_url, "--model", "fake", "--api-key", "paths",
            "--max-concurrent", str(concurrency), "--json"]  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    stdout, _ = await proc.communicate()
    wall = time.perf_counter() - started
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    usage = json.loads(await asyncio.to_thread(rusage.read_text))
    return {
        "path": mode, "src": src, "calls": calls, "done": summary["done"], "wall_s": round(wall, 2),
        "calls_per_s": round(calls / wall, 1), "cpu_ms_per_call": round(1000 * usage["cpu_s"] / calls, 3),
        "peak_rss_mb": round(usage["maxrss_mb"], 1), "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }  # fmt: skip


async def main(
    calls: int, rounds: int, concurrency: int, paths: list[str], sources: list[str | None]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        requests = _lines(tmp / "requests.jsonl", calls)
        runs: list[dict[str, Any]] = []
        async with FakeLLMProcess(0.0) as server:
            for _ in range(rounds):
                for src in sources:
                    for mode in paths:
                        runs.append(await _one(mode, requests, tmp, server, calls, concurrency, src))
                        print(json.dumps(runs[-1]), flush=True)
    if paths != ["lean", "sdk"]:
        return

    def mean(mode: str, key: str) -> float:
        values = [run[key] for run in runs if run["path"] == mode]
        return sum(values) / len(values)

    cpu = mean("sdk", "cpu_ms_per_call") / mean("lean", "cpu_ms_per_call")
    rate = mean("lean", "calls_per_s") / mean("sdk", "calls_per_s")
    print(
        json.dumps({"sdk_over_lean_cpu_per_call": round(cpu, 2), "lean_over_sdk_calls_per_s": round(rate, 2)})
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calls", type=int, nargs="?", default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--paths", choices=["both", "lean", "sdk"], default="both")
    parser.add_argument("--src", action="append", help="a checkout's src folder (repeat to compare)")
    options = parser.parse_args()
    paths = ["lean", "sdk"] if options.paths == "both" else [options.paths]
    sources: list[str | None] = [os.path.abspath(src) for src in options.src] if options.src else [None]
    asyncio.run(main(options.calls, options.rounds, options.concurrency, paths, sources))
