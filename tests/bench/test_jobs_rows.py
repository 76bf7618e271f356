"""``kagura bench jobs`` rows d and e at tiny sizes: they run end to end and report their goals' figures
(speed itself is the benchmark's to judge, not this test's)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from kagura.bench._jobs_rows import million_row, shared_row
from kagura.bench.jobs import run


async def test_four_workers_on_one_ledger_and_one_redis_budget_call_each_item_once(tmp_path: Path) -> None:
    row = await shared_row(tmp_path, calls=40, rpm=2400, concurrency=8, latency=0.05)
    figures = row.extra["kagura"]
    assert figures["called_twice"] == 0 and figures["spend_over_cap_usd"] == 0
    assert 0 < figures["items_finished"] < 40  # the cap (60 % of the real cost) stopped the job
    assert set(figures["exit_codes"]) == {3}


async def test_the_latency_0_row_reports_rate_and_memory(tmp_path: Path) -> None:
    row = await million_row(tmp_path, calls=50, concurrency=8)
    figures = row.extra["kagura"]
    assert figures["done"] == 50 and figures["calls_per_s"] > 0 and figures["peak_rss_mb"] > 0
    assert row.goal == "kagura.calls_per_s >= 2000, kagura.peak_rss_mb <= 150"


def test_bench_jobs_runs_rows_alone_and_refuses_unknown_ones() -> None:
    with pytest.raises(ValueError, match="rows must be letters"):
        asyncio.run(run(rows="x"))
    done = subprocess.run(
        [sys.executable, "-m", "kagura.bench.jobs", "--rows", "z"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "--rows takes letters among abcde" in done.stderr


async def test_one_row_alone_runs_only_that_row() -> None:
    rows = await run(quick=True, rows="e")
    assert [row.operation[:2] for row in rows] == ["e."]
