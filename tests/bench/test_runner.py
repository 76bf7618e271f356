"""The benchmark runner: scales and the choice list (never timings)."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from kagura.bench._report import BenchRow
from kagura.bench._runner import BENCHMARKS, resolve_names, run_benchmarks
from kagura.bench.router import load_dataset
from kagura.bench.router import run as run_router
from kagura.errors import WorkerProcessError


@pytest.fixture
def two_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two throw-away benchmarks: one with a ``full`` scale, one without (as older modules are)."""
    (tmp_path / "kagura_bench_scaled.py").write_text(
        textwrap.dedent(
            """
            from kagura.bench._report import BenchRow

            async def run(latency=0.15, quick=False, full=False):
                return [BenchRow(f"scaled quick={quick} full={full}", 1, 1.0, 1.0)]
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "kagura_bench_fixed.py").write_text(
        textwrap.dedent(
            """
            from kagura.bench._report import BenchRow

            async def run(latency=0.15, quick=False):
                return [BenchRow(f"fixed quick={quick}", 1, 1.0, 1.0)]
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(BENCHMARKS, "scaled", "kagura_bench_scaled")
    monkeypatch.setitem(BENCHMARKS, "fixed", "kagura_bench_fixed")


@pytest.mark.usefixtures("two_modules")
async def test_full_reaches_the_modules_that_have_that_scale() -> None:
    results = await run_benchmarks(["scaled", "fixed"], latency=0.0, full=True)
    assert [r.operation for rows in results.values() for r in rows] == [
        "scaled quick=False full=True",
        "fixed quick=False",
    ]
    default = await run_benchmarks(["scaled"], latency=0.0)
    assert default["scaled"][0].operation == "scaled quick=False full=False"
    with pytest.raises(ValueError, match="quick or full"):
        await run_benchmarks(["scaled"], latency=0.0, quick=True, full=True)


def test_unknown_name_lists_extra_choices() -> None:
    choices = ", ".join(["all", *BENCHMARKS, "plot"])
    with pytest.raises(ValueError, match=re.escape(f"choose one of {choices}") + "$"):
        resolve_names("nope", also=("plot",))


async def test_router_default_scale_is_a_spread_and_full_is_everything() -> None:
    conversations = load_dataset()["conversations"]
    *_, mix = await run_router(latency=0.0)
    assert mix.items == 12 < len(conversations)
    assert mix.extra["labelled_conversations"] == len(conversations)  # detection is always over all


def test_a_row_states_its_goal_and_whether_it_met_it() -> None:
    checked = BenchRow("quota", 10, 2.0, 1.0, extra={"kagura": {"share_429": 0.01}},
                       checks=[("kagura.share_429", "<=", 0.005)])  # fmt: skip
    assert checked.goal == "kagura.share_429 <= 0.005" and checked.met is False
    ideal = BenchRow("gather", 10, 2.0, 1.0, ideal_s=0.9)
    assert ideal.goal == "" and ideal.met is None  # an ideal alone is no goal: no share of it is assumed
    assert BenchRow("plain", 1, 1.0, 1.0).met is None
    missing = BenchRow("x", 1, 1.0, 1.0, checks=[("absent", ">=", 1)])
    assert missing.met is None
    assert checked.as_dict()["met"] is False and checked.as_dict()["goal"] == checked.goal


def test_bench_tables_print_a_pass_miss_column() -> None:
    from rich.console import Console

    from kagura.cli.bench import _table

    goal = [("ratio_to_ideal", ">=", 0.8)]
    rows = [
        BenchRow("fast", 10, 2.0, 1.0, ideal_s=0.9, checks=goal),
        BenchRow("slow", 10, 2.0, 1.0, ideal_s=0.1, checks=goal),
    ]
    console = Console(width=200, record=True)
    console.print(_table("demo", rows))
    text = console.export_text()
    assert "pass/miss" in text
    assert [
        line.split("│")[-2].strip() for line in text.splitlines() if "│ fast" in line or "│ slow" in line
    ] == [
        "pass",
        "miss",
    ]


async def test_rows_carry_the_goal_their_issue_set() -> None:
    """Each row's pass/miss is against its own issue's goal, not a default share of the ideal: the
    scheduler overhead (issue 2) beats semaphore+gather and stays within 2x the bare pool; LLM calls (issue
    3) reach 95 % of the ideal; the router's no-enhancement path (issue 6) is 48 % faster, always agreeing."""
    from kagura.bench import llm, overhead

    for row in await overhead.run(quick=True):
        assert row.goal == "kagura_vs_gather <= 1, kagura_vs_bare <= 2"
    for row in await llm.run(latency=0.01, quick=True):
        assert row.goal == "ratio_to_ideal >= 0.95"
    plain, enhanced, mix = await run_router(latency=0.0, quick=True)
    assert plain.goal == "agreement >= 1, improvement >= 0.48"
    assert enhanced.goal == mix.goal == "agreement >= 1"


@pytest.fixture
def two_waiting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two throw-away waiting benchmarks that each finish only once the other has started (so they can only
    both finish if they run at the same time), and one ordinary benchmark between them."""
    (tmp_path / "kagura_bench_meet.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            from kagura.bench._report import BenchRow

            arrived = {}

            async def meet(me, other):
                arrived.setdefault(me, asyncio.Event()).set()
                await asyncio.wait_for(arrived.setdefault(other, asyncio.Event()).wait(), 30)
                return [BenchRow(me, 1, 1.0, 1.0)]
            """
        ),
        encoding="utf-8",
    )
    for me, other in (("left", "right"), ("right", "left")):
        (tmp_path / f"kagura_bench_{me}.py").write_text(
            f"from kagura_bench_meet import meet\n\nasync def run(latency=0.15, quick=False):\n"
            f"    return await meet({me!r}, {other!r})\n",
            encoding="utf-8",
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("left", "right"):
        monkeypatch.setitem(BENCHMARKS, name, f"kagura_bench_{name}")
    monkeypatch.setattr("kagura.bench._runner.WAITING", ("left", "right"))


@pytest.mark.usefixtures("two_waiting", "two_modules")
async def test_waiting_benchmarks_run_together_and_report_in_the_order_asked() -> None:
    costs: dict[str, dict[str, object]] = {}
    results = await run_benchmarks(
        ["left", "fixed", "right"], latency=0.0, on_done=lambda name, cost: costs.setdefault(name, cost)
    )
    assert list(results) == ["left", "fixed", "right"]
    assert costs["left"]["concurrent_with"] == ["right"] and costs["right"]["concurrent_with"] == ["left"]
    assert "concurrent_with" not in costs["fixed"]  # every other benchmark runs alone
    assert costs["left"]["cpu_s"] == costs["right"]["cpu_s"]  # the group's CPU, once for both


@pytest.fixture
def two_lanes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two throw-away benchmarks that each finish only once the other has started (through files: they
    run in two processes), and one that fails."""
    (tmp_path / "kagura_bench_lanes.py").write_text(
        textwrap.dedent(
            """
            import asyncio, os, pathlib
            from kagura.bench._report import BenchRow

            async def meet(me, other):
                folder = pathlib.Path(os.environ["KAGURA_TEST_MEETING"])
                (folder / me).write_text("here")
                for _ in range(3000):
                    if (folder / other).exists():
                        return [BenchRow(me, 1, 1.0, 1.0, extra={"pid": os.getpid()},
                                         checks=[("pid", ">=", 1)])]
                    await asyncio.sleep(0.01)
                raise TimeoutError(f"{other} never started")
            """
        ),
        encoding="utf-8",
    )
    for me, other in (("here", "there"), ("there", "here")):
        (tmp_path / f"kagura_bench_{me}.py").write_text(
            f"from kagura_bench_lanes import meet\n\nasync def run(latency=0.15, quick=False):\n"
            f"    return await meet({me!r}, {other!r})\n",
            encoding="utf-8",
        )
    (tmp_path / "kagura_bench_broken.py").write_text(
        "async def run(latency=0.15, quick=False):\n    raise ValueError('broken on purpose')\n",
        encoding="utf-8",
    )
    (tmp_path / "kagura_bench_pid.py").write_text(
        "import os\nfrom kagura.bench._report import BenchRow\n\nasync def run(latency=0.15, quick=False):\n"
        "    return [BenchRow('pid', 1, 1.0, 1.0, extra={'pid': os.getpid()})]\n",
        encoding="utf-8",
    )
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    monkeypatch.setenv("KAGURA_TEST_MEETING", str(meeting))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("here", "there", "broken", "pid"):
        monkeypatch.setitem(BENCHMARKS, name, f"kagura_bench_{name}")


@pytest.mark.usefixtures("two_lanes")
async def test_side_lane_benchmarks_run_in_their_own_process_meanwhile() -> None:
    costs: dict[str, dict[str, object]] = {}
    started: list[str] = []
    results = await run_benchmarks(
        ["there", "here"], latency=0.0, side=("there",), on_start=started.append,
        on_done=lambda name, cost: costs.setdefault(name, cost),
    )  # fmt: skip
    assert list(results) == ["there", "here"] and sorted(started) == ["here", "there"]
    there, here = results["there"][0], results["here"][0]
    assert there.extra["pid"] != here.extra["pid"]  # the side lane is another process
    assert there.checks == [("pid", ">=", 1.0)] and there.met is True  # rows come back whole
    assert costs["there"]["lane"] == "side lane" and "lane" not in costs["here"]


@pytest.mark.usefixtures("two_lanes", "two_modules")
async def test_a_failing_side_lane_benchmark_is_named_in_the_error() -> None:
    with pytest.raises(WorkerProcessError, match="broken: ValueError: broken on purpose"):
        await run_benchmarks(["broken", "fixed"], latency=0.0, side=("broken",))


@pytest.mark.usefixtures("two_lanes")
async def test_side_lane_alone_runs_here() -> None:
    """Only side-lane benchmarks asked for: nothing to run beside them, so no child process."""
    results = await run_benchmarks(["there"], latency=0.0, side=("there",), on_start=_meet_here)
    assert results["there"][0].extra["pid"] == os.getpid()


def _meet_here(name: str) -> None:
    Path(os.environ["KAGURA_TEST_MEETING"], "here").write_text("here")


@pytest.mark.usefixtures("two_lanes", "two_modules")
async def test_a_fresh_benchmark_runs_after_the_lanes_in_a_process_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("kagura.bench._runner.LAST", ("pid",))
    monkeypatch.setattr("kagura.bench._runner.FRESH", ("pid",))
    costs: dict[str, dict[str, object]] = {}
    results = await run_benchmarks(
        ["pid", "fixed"], latency=0.0, side=("fixed",), on_done=lambda n, cost: costs.setdefault(n, cost)
    )
    assert list(results) == ["pid", "fixed"] and list(costs) == ["fixed", "pid"]  # after the lanes
    assert results["pid"][0].extra["pid"] != os.getpid() and costs["pid"]["lane"] == "own process"
