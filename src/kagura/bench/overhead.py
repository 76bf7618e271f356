"""Scheduler overhead: kagura's pool against ``asyncio.Semaphore`` + ``gather`` and a bare worker pool.

Every variant maps a no-op coroutine over N items at ``max_concurrent=100``, each in a fresh subprocess
so its peak RSS (``ru_maxrss``) is its own:

- ``kagura``: ``parallel_map(noop, items, 100)``, every optional feature off;
- ``gather``: the usual hand-written baseline, one task per item behind an ``asyncio.Semaphore(100)``;
- ``bare``: the floor, 100 coroutines pulling from one shared iterator into a preallocated list.

Two item shapes: ``noop`` returns at once (pure scheduling overhead) and ``yield`` does one
``await asyncio.sleep(0)`` (a call that suspends, as a real request does). Sizes: 100,000 items from a
list and 1,000,000 from a generator (flat memory for the pools, per-item tasks for gather); at 1,000,000
``kagura_stream`` also consumes ``parallel_stream`` outcomes without keeping them, to show the scheduler's
own memory without any result list.

A row's ``serial_s`` is the gather baseline, ``parallel_s`` kagura and ``ideal_s`` the bare pool.
Run: ``python -m kagura.bench.overhead [--quick | --full]``. ``latency`` is accepted for the common
signature and unused: no item does I/O.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from kagura.bench._report import BenchRow
from kagura.errors import WorkerProcessError

__all__ = ["run"]

CONCURRENCY = 100
VARIANTS = ("kagura", "gather", "bare")


async def _noop(x: int) -> int:
    return x


async def _yield(x: int) -> int:
    await asyncio.sleep(0)
    return x


ITEM_FUNCS: dict[str, Callable[[int], Awaitable[int]]] = {"noop": _noop, "yield": _yield}


async def _kagura(func: Callable[[int], Awaitable[int]], items: Iterable[int], n: int) -> list[Any]:
    from kagura.core.parallel import parallel_map

    return await parallel_map(func, items, CONCURRENCY)


async def _gather(func: Callable[[int], Awaitable[int]], items: Iterable[int], n: int) -> list[Any]:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def guarded(x: int) -> int:
        async with semaphore:
            return await func(x)

    return await asyncio.gather(*(guarded(x) for x in items))


async def _bare(func: Callable[[int], Awaitable[int]], items: Iterable[int], n: int) -> list[Any]:
    results: list[Any] = [None] * n
    source = enumerate(items)

    async def worker() -> None:
        for i, x in source:
            results[i] = await func(x)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


async def _kagura_stream(
    func: Callable[[int], Awaitable[int]], items: Iterable[int], n: int
) -> Sequence[Any]:
    """Outcomes consumed and dropped as they arrive: no result list, so memory is the scheduler's alone."""
    from kagura.core.parallel import parallel_stream

    count = last = 0
    async with parallel_stream(func, items, CONCURRENCY) as outcomes:
        async for outcome in outcomes:
            count += 1
            last = max(last, outcome.index)
    return range(count) if last == count - 1 else range(0)  # lazy: what _measure checks, without a list


RUNNERS = {"kagura": _kagura, "gather": _gather, "bare": _bare, "kagura_stream": _kagura_stream}


def _measure(variant: str, item: str, n: int, source: str, repeat: int) -> dict[str, float]:
    """Inside the subprocess: best time of ``repeat`` runs, and the process's peak RSS."""
    import kagura.core.parallel  # noqa: F401 - every variant pays the same imports

    func, runner = ITEM_FUNCS[item], RUNNERS[variant]
    best = float("inf")
    for _ in range(repeat):
        items: Iterable[int] = range(n) if source == "generator" else list(range(n))
        if source == "generator":
            items = (x for x in items)
        t0 = time.perf_counter()
        results = asyncio.run(runner(func, items, n))
        best = min(best, time.perf_counter() - t0)
        assert len(results) == n and results[-1] == n - 1
        del results, items
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return {"seconds": best, "peak_rss_mb": rss_kb / 1024}


async def _in_subprocess(variant: str, item: str, n: int, source: str, repeat: int) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kagura.bench.overhead",
        "--measure",
        json.dumps([variant, item, n, source, repeat]),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise WorkerProcessError(f"overhead benchmark subprocess for {variant} failed ({proc.returncode})")
    return json.loads(out)


async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """Measure every variant side by side; one row per (size, source, item shape).

    ``quick``: 10,000 items from a list; default: 50,000 items, best of 5 (semaphore+gather: of 2);
    ``full``: 100,000 items, best of 3, and the 1,000,000-item generator (semaphore+gather alone takes
    ~20 s there). kagura's and the bare pool's runs take milliseconds at the default size: five of each
    keep one slow moment of a shared machine out of their ratio for the price of a few ms (in ``kagura
    bench`` the side lane runs beside other work; best of 2, the yield row's kagura/bare went 0.7 -> 2.9).
    """
    del latency  # no I/O here: kept for the common benchmark signature
    if quick:
        cases = [(10_000, "list", "noop", 3), (10_000, "list", "yield", 3)]
    elif full:
        cases = [
            (100_000, "list", "noop", 3),
            (100_000, "list", "yield", 3),
            (1_000_000, "generator", "noop", 3),
        ]
    else:
        cases = [(50_000, "list", "noop", 5), (50_000, "list", "yield", 5)]
    rows = []
    for n, source, item, repeat in cases:
        variants = (*VARIANTS, "kagura_stream") if source == "generator" else VARIANTS
        # best of `repeat` runs each; semaphore+gather over a million items takes ~20 s a run: once is enough
        gather_repeat = 1 if n >= 1_000_000 else repeat if full or quick else 2
        m = {
            v: await _in_subprocess(v, item, n, source, gather_repeat if v == "gather" else repeat)
            for v in variants
        }
        rows.append(
            BenchRow(
                operation=f"overhead {item} x{n:,} ({source}, c={CONCURRENCY}) gather vs kagura, bare=ideal",
                items=n,
                serial_s=m["gather"]["seconds"],
                parallel_s=m["kagura"]["seconds"],
                ideal_s=m["bare"]["seconds"],
                extra={
                    "kagura_vs_gather": m["kagura"]["seconds"] / m["gather"]["seconds"],
                    "kagura_vs_bare": m["kagura"]["seconds"] / m["bare"]["seconds"],
                    "gather_vs_bare": m["gather"]["seconds"] / m["bare"]["seconds"],
                    **{f"{v}_s": m[v]["seconds"] for v in variants},
                    **{f"{v}_peak_rss_mb": round(m[v]["peak_rss_mb"], 1) for v in variants},
                    "goal": "faster than semaphore+gather, <= 2x the bare pool (issue 2)",
                },
                checks=[("kagura_vs_gather", "<=", 1.0), ("kagura_vs_bare", "<=", 2.0)],
            )
        )
    return rows


def _print(rows: list[BenchRow]) -> None:
    for row in rows:
        e = row.extra
        print(row.operation)
        print(
            f"  time  kagura {e['kagura_s']:.3f}s  gather {e['gather_s']:.3f}s  bare {e['bare_s']:.3f}s  |  "
            f"kagura/gather {e['kagura_vs_gather']:.2f}x  kagura/bare {e['kagura_vs_bare']:.2f}x  "
            f"gather/bare {e['gather_vs_bare']:.2f}x"
        )
        print(
            f"  peak RSS  kagura {e['kagura_peak_rss_mb']:.0f} MB  gather {e['gather_peak_rss_mb']:.0f} MB  "
            f"bare {e['bare_peak_rss_mb']:.0f} MB"
        )
        if "kagura_stream_s" in e:
            print(
                f"  parallel_stream, outcomes dropped as they come: {e['kagura_stream_s']:.3f}s, "
                f"peak RSS {e['kagura_stream_peak_rss_mb']:.0f} MB (no result list: the scheduler's own)"
            )


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kagura.bench.overhead", description="kagura scheduler overhead benchmark"
    )
    parser.add_argument("--quick", action="store_true", help="10,000 items only (a few seconds)")
    parser.add_argument("--full", action="store_true", help="also 1,000,000 items from a generator")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        variant, item, n, source, repeat = json.loads(args.measure)
        print(json.dumps(_measure(variant, item, n, source, repeat)))
        return
    _print(asyncio.run(run(quick=args.quick, full=args.full)))


if __name__ == "__main__":
    _main(sys.argv[1:])
