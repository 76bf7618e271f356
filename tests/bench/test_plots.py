"""The plot harness: the RPM replay holds its budget, and both figures are written as PNG."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagura.bench._runner import resolve_names
from kagura.bench.plots import BudgetTrace, ScalingPoint, render, simulate_budget
from kagura.cli.app import app


def test_budget_replay_never_exceeds_and_saturates_the_rpm_budget() -> None:
    trace = simulate_budget(requests_per_minute=60, requests=200, latency=1.0, max_concurrent=10)

    assert len(trace.start_times) == 200
    assert trace.peak_window == 60  # the busiest 60 s window is exactly full, never over
    _, counts = trace.window_counts()
    steady = counts[60 : int(max(trace.start_times))]  # after the first minute, until the run ends
    assert min(steady) >= 0.95 * 60


def test_window_counts_of_a_hand_made_trace() -> None:
    trace = BudgetTrace(requests_per_minute=2, start_times=[0.0, 0.0, 60.0, 60.5])
    xs, ys = trace.window_counts(step=30.0)

    assert xs[:4] == [0.0, 30.0, 60.0, 90.0]
    assert ys[:4] == [2, 2, 1, 2]  # at t=60 the two requests of t=0 have left the window (t-60, t]
    assert trace.peak_window == 2


def test_render_writes_both_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    points = [ScalingPoint(n, c, n / c * 0.1 + 0.01, n / c * 0.1) for c in (1, 5) for n in (5, 10)]
    trace = BudgetTrace(requests_per_minute=2, start_times=[0.0, 0.0, 60.0])

    paths = render(points, trace, tmp_path / "img", latency=0.1)

    assert [p.name for p in paths] == ["scaling.png", "rpm-budget.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_benchmark_is_a_clear_usage_error() -> None:
    with pytest.raises(ValueError, match="choose one of all, overhead"):
        resolve_names("nope")
    result = CliRunner().invoke(app, ["bench", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark" in result.output
