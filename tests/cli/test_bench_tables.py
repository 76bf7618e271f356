"""``kagura bench``'s client tables (quota, shared, jobs) print every row a benchmark returns."""

from __future__ import annotations

from rich.console import Console

from kagura.bench._report import BenchRow
from kagura.cli.bench import _clients_table


def test_a_client_without_some_columns_prints_blank_cells() -> None:
    """A row whose clients measure only some of the columns (``kagura bench jobs`` rows c-e: no naive
    script, per-process figures) prints; it raised KeyError('requests') and failed ``kagura bench``."""
    full = {"wall_s": 1.5, "requests": 30, "http_429": 0, "share_429": 0.0, "failed": 0}
    rows = [
        BenchRow("a. quota known", 30, 2.0, 1.5, extra={"naive": full, "kagura": full, "goal": "<= 1.03x"}),
        BenchRow(
            "d. 4 processes",
            80,
            0.0,
            3.0,
            extra={"kagura": {"wall_s": 3.0, "called_twice": 0}, "goal": "once"},
        ),
    ]
    console = Console(width=200, record=True)
    console.print(_clients_table("kagura bench jobs", rows))
    text = console.export_text()
    assert "d. 4 processes" in text and "called_twice=0" in text and "3.00 s" in text
