"""Wall and CPU seconds of whole ``kagura search`` processes, several checkouts side by side in one run.

Issue 20's goal: a ``kagura search`` process on a small store takes <= 0.5 s (default embedder, hybrid).
Each checkout (``--src DIR``, its ``src`` folder, put first on ``PYTHONPATH``) indexes the sample corpus into
its own store with its own code (untimed), then the checkouts' searches alternate ``--runs`` times; printed:
the median wall and CPU seconds (the process and its threads) of each.

    git worktree add --detach /tmp/old main
    python scripts/search_process.py --src /tmp/old/src --src src [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 0.5
CORPUS = Path(__file__).resolve().parents[1] / "src" / "kagura" / "demo_corpus"


def _kagura(src: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": src}
    command = [sys.executable, "-m", "kagura.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True)


def _timed_search(src: str, store: Path, query: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = _kagura(src, "search", query, "--store", str(store))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"kagura search failed with {src}: {done.stderr[-1000:]}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--src", action="append", required=True, help="a checkout's src folder (repeat)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--query", default="offline embeddings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kagura-search-process-") as tmp:
        stores = {}
        for index, src in enumerate(args.src):
            stores[src] = Path(tmp) / f"store-{index}.db"
            built = _kagura(src, "ingest", str(CORPUS), "--store", str(stores[src]))
            if built.returncode != 0:
                raise SystemExit(f"kagura ingest failed with {src}: {built.stderr[-1000:]}")
        times: dict[str, list[tuple[float, float]]] = {src: [] for src in args.src}
        for _ in range(args.runs):
            for src in args.src:
                times[src].append(_timed_search(src, stores[src], args.query))
    print(f"load average {os.getloadavg()[0]:.2f}; goal <= {GOAL_S} s per process")
    for src, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{src}: median wall {wall:.3f} s, CPU {cpu:.3f} s over {len(runs)} runs")


if __name__ == "__main__":
    main()
