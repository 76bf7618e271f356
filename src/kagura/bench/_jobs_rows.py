"""The rows of ``kagura bench jobs`` that measure ``kagura run`` alone (no naive script can do them):

c. the quota unknown (no ``--rpm``): the rate reached after 10 s against the quota, and the 429s;
d. four processes on one ledger sharing one ``--rpm`` budget and one ``--budget-usd`` cap through a real
   Redis: each item called once, the 429s, the spend against the cap;
e. many lines at latency 0 from one process: calls per second (ledger included) and peak RSS.

Each row's goal is in its checks (the report's pass/miss column).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from kagura.bench._report import BenchRow
from kagura.testing import FakeLLMProcess

__all__ = ["adaptive_row", "finish", "measured", "million_row", "shared_row"]


async def measured(module_args: list[str], rusage: Path) -> tuple[asyncio.subprocess.Process, Any]:
    env = {**os.environ, "KAGURA_BENCH_RUSAGE": str(rusage)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kagura.bench._measured", *module_args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return proc, rusage


async def finish(proc: asyncio.subprocess.Process, rusage: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    stdout, _ = await proc.communicate()
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    return summary, json.loads(await asyncio.to_thread(rusage.read_text))


_PRICES = {"fake": {"input": 1.0, "output": 2.0}}  # USD per 1M tokens


def _lines(path: Path, n: int, max_tokens: int | None = None) -> Path:
    extra = {} if max_tokens is None else {"max_tokens": max_tokens}
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"custom_id": f"q{i}", "prompt": f"label item {i}", **extra}) + "\n")
    return path


async def _ok(server: FakeLLMProcess) -> tuple[int, int]:
    """Chat requests answered (not refused), and refused with 429, so far."""
    stats = await server.stats()
    return int(stats["chat_requests"]) - int(stats["over_quota"]), int(stats["over_quota"])


async def adaptive_row(tmp: Path, calls: int, rpm: float, concurrency: int, latency: float) -> BenchRow:

    requests = _lines(tmp / "adaptive.jsonl", calls)
    out = tmp / "adaptive.out.jsonl"
    async with FakeLLMProcess(latency, quota_rpm=rpm, quota_burst=rpm / 60) as server:
        args = ["kagura.cli", "run", str(requests), "--out", str(out), "--base-url", server.base_url,
                "--model", "fake", "--api-key", "adaptive", "--max-concurrent", str(concurrency),
                "--json"]  # fmt: skip
        started = time.perf_counter()
        proc, rusage = await measured(args, tmp / "rusage-adaptive.json")
        finishing = asyncio.ensure_future(finish(proc, rusage))
        samples: list[tuple[float, int]] = []
        while not finishing.done():
            samples.append((time.perf_counter() - started, (await _ok(server))[0]))
            await asyncio.wait({finishing}, timeout=0.25)
        summary, _ = await finishing
        wall = time.perf_counter() - started
        answered, limited = await _ok(server)
    after = [(t, ok) for t, ok in samples if t >= 10.0 and ok < 0.95 * calls]  # past 10 s, before the tail
    rate = (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0]) if len(after) > 1 else None
    share_of_quota = None if rate is None else round(rate / (rpm / 60), 3)
    figures = {
        "wall_s": round(wall, 2), "requests": answered + limited, "http_429": limited,
        "share_429": round(limited / max(1, answered + limited), 4), "failed": int(summary.get("failed", 0)),
        "rate_after_10s_per_s": None if rate is None else round(rate, 1), "share_of_quota": share_of_quota,
    }  # fmt: skip
    return BenchRow(
        f"c. {calls} calls, quota {rpm:g} RPM unknown to the client (adaptive), latency {latency:g} s",
        calls, wall, wall, calls / (rpm / 60),
        {"kagura": figures, "goal": ">= 95% of the quota after 10 s, <= 2% 429"},
        [("kagura.share_of_quota", ">=", 0.95), ("kagura.share_429", "<=", 0.02)],
    )  # fmt: skip


async def shared_row(
    tmp: Path, calls: int, rpm: float, concurrency: int, latency: float, workers: int = 4
) -> BenchRow:
    from kagura.testing import RedisServer

    requests = _lines(tmp / "shared.jsonl", calls, max_tokens=16)
    prices = tmp / "prices.json"
    prices.write_text(json.dumps(_PRICES))
    cap = round(calls * 1.9e-5 * 0.6, 6)  # ~60 % of the job's real cost: the cap stops it
    redis = RedisServer()
    await asyncio.to_thread(redis.start)
    try:
        async with FakeLLMProcess(latency, quota_rpm=rpm, quota_burst=rpm / 60) as server:
            args = ["-m", "kagura.cli", "run", str(requests), "--out", str(tmp / "shared.out.jsonl"),
                    "--base-url", server.base_url, "--model", "fake", "--api-key", "shared",
                    "--max-concurrent", str(max(1, concurrency // workers)), "--rpm", str(rpm),
                    "--redis", redis.url, "--budget-usd", str(cap), "--prices", str(prices),
                    "--json"]  # fmt: skip
            started = time.perf_counter()
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
                )
                for _ in range(workers)
            ]
            outputs = [await proc.communicate() for proc in procs]
            wall = time.perf_counter() - started
            answered, limited = await _ok(server)
    finally:
        await asyncio.to_thread(redis.close)
    summaries = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    final = max(summaries, key=lambda s: int(s["done"]) + int(s["failed"]))
    finished = int(final["done"]) + int(final["failed"])
    spend = max(float(s["cost_usd"] or 0.0) for s in summaries)
    figures: dict[str, Any] = {
        "wall_s": round(wall, 2), "workers": workers, "items_finished": finished, "answered": answered,
        "called_twice": answered - finished, "http_429": limited,
        "share_429": round(limited / max(1, answered + limited), 4), "cost_usd": round(spend, 6),
        "cap_usd": cap, "spend_over_cap_usd": round(max(0.0, spend - cap), 9),
        "exit_codes": [proc.returncode for proc in procs],
    }  # fmt: skip
    return BenchRow(
        f"d. {calls} calls, {workers} processes, one ledger, one Redis budget ({rpm:g} RPM, ${cap:g} cap)",
        calls, wall, wall, None,
        {"kagura": figures, "goal": "each item called once; <= 0.5% 429; spend <= cap"},
        [("kagura.called_twice", "<=", 0), ("kagura.share_429", "<=", 0.005),
         ("kagura.spend_over_cap_usd", "<=", 0)],
    )  # fmt: skip


async def million_row(tmp: Path, calls: int, concurrency: int) -> BenchRow:

    requests = _lines(tmp / "million.jsonl", calls)
    async with FakeLLMProcess(0.0) as server:
        args = ["kagura.cli", "run", str(requests), "--out", str(tmp / "million.out.jsonl"), "--base-url",
                server.base_url, "--model", "fake", "--api-key", "million", "--max-concurrent",
                str(concurrency), "--json"]  # fmt: skip
        started = time.perf_counter()
        proc, rusage = await measured(args, tmp / "rusage-million.json")
        summary, usage = await finish(proc, rusage)
        wall = time.perf_counter() - started
    figures = {
        "wall_s": round(wall, 2), "calls_per_s": round(calls / wall, 1), "done": int(summary["done"]),
        "cpu_ms_per_call": round(1000 * usage["cpu_s"] / calls, 3),
        "peak_rss_mb": round(usage["maxrss_mb"], 1),
    }  # fmt: skip
    return BenchRow(
        f"e. {calls} lines at latency 0 from one process (the fake server shares the machine)",
        calls, wall, wall, None,
        {"kagura": figures, "goal": ">= 2000 calls/s, ledger included; peak RSS <= 150 MB"},
        [("kagura.calls_per_s", ">=", 2000), ("kagura.peak_rss_mb", "<=", 150)],
    )  # fmt: skip
