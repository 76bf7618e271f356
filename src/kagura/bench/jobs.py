"""``kagura bench jobs``: ``kagura run`` against the naive job script, side by side in one run.

Both clients run as their own processes against the fake server process (:class:`FakeLLMProcess`), each
measured alone (peak RSS and CPU seconds of its own process):

- **naive**: ``asyncio.Semaphore(C)`` + the ``openai`` SDK + retries honouring ``Retry-After``, appending
  answers to a file (:mod:`kagura.bench._naive_job`); a restart runs everything again.
- **kagura**: ``kagura run REQUESTS --out OUT --rpm R --max-concurrent C`` (ledger included).

Scenarios:

a. a known quota enforced per second (``R`` RPM, burst ``R/60``): wall vs ideal (``N/(R/60)``), 429s,
   client CPU per call, peak RSS;
b. ``kill -9`` at ``K`` random moments, then the same command to the end: requests paid twice, output
   lines per custom_id; then the same command once more on the finished job (the resume time, 0 sent);
c.-e. ``kagura run`` alone (:mod:`kagura.bench._jobs_rows`): the quota unknown (adaptive), four processes
   on one ledger and one Redis budget, many lines at latency 0.

    python -m kagura.bench.jobs [--quick | --full] [--latency 0.2] [--rows c,d]   # --rows: some rows alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kagura.bench._jobs_rows import finish as _finish
from kagura.bench._jobs_rows import measured as _measured
from kagura.bench._report import BenchRow
from kagura.testing import FakeLLMProcess

__all__ = ["ROWS", "Sizes", "run"]


@dataclass(frozen=True)
class Sizes:
    calls: int = 20_000
    rpm: float = 6000
    concurrency: int = 64
    kill_calls: int = 2000
    kills: int = 10
    adaptive_calls: int = 20_000
    shared_calls: int = 20_000
    million_calls: int = 1_000_000

    @classmethod
    def default(cls) -> Sizes:
        return cls(
            calls=300,
            rpm=12_000,
            kill_calls=200,
            kills=1,  # one kill proves exactly-once after a resume; each one more costs two process starts
            adaptive_calls=2400,
            shared_calls=600,
            million_calls=10_000,
        )  # fmt: skip  (a part of `kagura bench`'s default run)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(calls=30, rpm=2400, concurrency=16, kill_calls=40, kills=1, adaptive_calls=600,
                   shared_calls=80, million_calls=500)  # fmt: skip


def _requests(path: Path, n: int) -> Path:
    path.write_text(
        "".join(json.dumps({"custom_id": f"q{i}", "prompt": f"label item {i}"}) + "\n" for i in range(n))
    )
    return path


def _kagura(requests: Path, out: Path, server: FakeLLMProcess, sizes: Sizes, *extra: str) -> list[str]:
    return ["kagura.cli", "run", str(requests), "--out", str(out), "--base-url", server.base_url, "--model",
            "fake", "--api-key", "kagura", "--max-concurrent", str(sizes.concurrency), "--json",
            *extra]  # fmt: skip


def _naive(requests: Path, out: Path, server: FakeLLMProcess, sizes: Sizes) -> list[str]:
    return ["kagura.bench._naive_job", str(requests), str(out), server.base_url, str(sizes.concurrency)]


async def _chat(server: FakeLLMProcess) -> tuple[int, int]:
    stats = await server.stats()
    return int(stats["chat_requests"]), int(stats["over_quota"])


async def _quota(tmp: Path, sizes: Sizes, latency: float) -> BenchRow:
    requests = _requests(tmp / "quota.jsonl", sizes.calls)
    ideal = max(sizes.calls / (sizes.rpm / 60), latency)
    figures: dict[str, Any] = {}
    walls: dict[str, float] = {}
    async with FakeLLMProcess(latency, quota_rpm=sizes.rpm, quota_burst=sizes.rpm / 60) as server:
        for name in ("naive", "kagura"):  # one after the other, each on its own API key (its own quota)
            out = tmp / f"quota-{name}.jsonl"
            args = _naive(requests, out, server, sizes) if name == "naive" else _kagura(
                requests, out, server, sizes, "--rpm", str(sizes.rpm))  # fmt: skip
            before = await _chat(server)
            started = time.perf_counter()
            proc, rusage = await _measured(args, tmp / f"rusage-{name}.json")
            summary, usage = await _finish(proc, rusage)
            walls[name] = time.perf_counter() - started
            after = await _chat(server)
            requests_made, limited = after[0] - before[0], after[1] - before[1]
            lines = out.read_text().splitlines()
            figures[name] = {
                "wall_s": round(walls[name], 2), "requests": requests_made, "http_429": limited,
                "share_429": limited / max(1, requests_made), "failed": int(summary.get("failed", 0)),
                "ratio_to_ideal": round(walls[name] / ideal, 3),
                "cpu_ms_per_call": round(1000 * usage["cpu_s"] / sizes.calls, 2),
                "peak_rss_mb": round(usage["maxrss_mb"], 1), "output_lines": len(lines),
                "lost": sizes.calls - len(lines),
            }  # fmt: skip
    return BenchRow(
        f"a. {sizes.calls} calls, {sizes.rpm:g} RPM enforced per second, latency {latency:g} s", sizes.calls,
        walls["naive"], walls["kagura"], ideal,
        {**figures, "goal": "<= 1.03x ideal, <= 0.1% 429, 0 lost (issue 23)"},
        checks=[("kagura.ratio_to_ideal", "<=", 1.03), ("kagura.share_429", "<=", 0.001),
                ("kagura.failed", "<=", 0), ("kagura.lost", "<=", 0)],
    )  # fmt: skip


async def _kills(tmp: Path, sizes: Sizes, latency: float, seed: int = 7) -> BenchRow:
    n = sizes.kill_calls
    requests = _requests(tmp / "kills.jsonl", n)
    rng = random.Random(seed)
    points = sorted(rng.sample(range(n // 10, n - n // 10), sizes.kills))
    figures: dict[str, Any] = {}
    walls: dict[str, float] = {}
    async with FakeLLMProcess(latency) as server:
        for name in ("naive", "kagura"):  # one after the other; counts are this client's share
            out = tmp / f"kills-{name}.jsonl"
            args = (
                _naive(requests, out, server, sizes)
                if name == "naive"
                else _kagura(requests, out, server, sizes)
            )
            base = (await _chat(server))[0]
            started = time.perf_counter()
            for number, point in enumerate(points):
                # the naive script restarts from zero: its kills land at the same depth of each fresh run
                target = point + ((await _chat(server))[0] if name == "naive" else base)
                proc, _ = await _measured(args, tmp / f"rusage-kill-{name}-{number}.json")
                while (await _chat(server))[0] < target and proc.returncode is None:  # noqa: ASYNC110 - polling
                    await asyncio.sleep(0.01)
                if proc.returncode is None:
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
            proc, rusage = await _measured(args, tmp / f"rusage-kill-{name}.json")
            summary, _ = await _finish(proc, rusage)
            walls[name] = time.perf_counter() - started
            made = (await _chat(server))[0] - base
            extra: dict[str, Any] = {}
            if name == "kagura":
                resumed = time.perf_counter()
                proc, rusage = await _measured(args, tmp / "rusage-resume.json")
                again, _ = await _finish(proc, rusage)
                extra = {
                    "resume_finished_job_s": round(time.perf_counter() - resumed, 2),
                    "resent_after_finish": again["requests"],
                    "max_in_flight_per_kill": sizes.concurrency,
                }
            ids = [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]
            figures[name] = {
                "wall_s": round(walls[name], 2),
                "requests": made,
                "http_429": 0,
                "share_429": 0.0,
                "failed": int(summary.get("failed", 0)),
                "paid_twice": made - n,
                "output_lines": len(ids),
                "distinct_ids": len(set(ids)),
                "exactly_once": len(ids) == len(set(ids)) == n,
                "duplicated": len(ids) - len(set(ids)),
                "missing": n - len(set(ids)),
                "paid_twice_limit": sizes.kills * sizes.concurrency,
                **extra,
            }
    return BenchRow(
        f"b. {n} calls, kill -9 x{sizes.kills} then resume, latency {latency:g} s", n,
        walls["naive"], walls["kagura"], None,
        {**figures, "goal": "exactly-once output; paid twice <= in flight (issue 23)"},
        checks=[("kagura.duplicated", "<=", 0), ("kagura.missing", "<=", 0),
                ("kagura.paid_twice", "<=", sizes.kills * sizes.concurrency)],
    )  # fmt: skip


ROWS = "abcde"


async def run(
    latency: float = 0.2, quick: bool = False, full: bool = False, rows: str = ROWS
) -> list[BenchRow]:
    """The rows named in ``rows`` (letters ``a``-``e``), at ``--quick``, default or ``--full`` sizes."""
    unknown = sorted(set(rows) - set(ROWS))
    if unknown or not rows:
        raise ValueError(f"rows must be letters among {ROWS!r}, got {rows!r}")
    sizes = Sizes.quick() if quick else Sizes() if full else Sizes.default()
    from kagura.bench._jobs_rows import adaptive_row, million_row, shared_row

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        makers = {
            "a": lambda: _quota(tmp, sizes, latency),
            "b": lambda: _kills(tmp, sizes, latency),
            "c": lambda: adaptive_row(tmp, sizes.adaptive_calls, sizes.rpm, sizes.concurrency, latency),
            "d": lambda: shared_row(tmp, sizes.shared_calls, sizes.rpm, sizes.concurrency, latency),
            "e": lambda: million_row(tmp, sizes.million_calls, sizes.concurrency),
        }
        return [await makers[letter]() for letter in ROWS if letter in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rows", default=ROWS, help="the rows to run, e.g. 'cd' or 'c,d' (default: all)")
    options = parser.parse_args()
    rows = options.rows.replace(",", "").strip()
    if not rows or set(rows) - set(ROWS):
        parser.error(f"--rows takes letters among {ROWS}, got {options.rows!r}")
    for row in asyncio.run(run(options.latency, options.quick, options.full, rows)):
        print(json.dumps(row.as_dict()), flush=True)


if __name__ == "__main__":
    main()
