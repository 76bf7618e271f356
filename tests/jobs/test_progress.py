"""The progress line of ``kagura run`` off a terminal: done/total, failed, 429s, tokens, $, rate, ETA."""

from __future__ import annotations

from kagura.cli._job_progress import progress_line


def test_the_line_counts_earlier_runs_and_this_runs_rate() -> None:
    progress = {"done": 90, "failed": 10, "tokens": 12_500, "cost_usd": 1.5, "priced": True, "total": 1000,
                "finished_before": 400}  # fmt: skip
    line = progress_line(progress, rate_limited=7, elapsed=10.0)
    assert line == "run: 500/1000 (50%), 10 failed, 7 429s, 12.5k tokens, $1.5000, 10.0/s, ETA 50s"


def test_unpriced_and_unknown_totals_say_so() -> None:
    progress = {"done": 0, "failed": 0, "tokens": 0, "cost_usd": 0.0}
    assert progress_line(progress, 0, 0.0) == "run: 0/?, 0 failed, 0 429s, 0 tokens, $ unpriced, 0.0/s, ETA ?"
