"""The LLM benchmark runs end to end in quick mode (its timings are not asserted: speed is for benchmarks)."""

from __future__ import annotations

from kagura.bench.llm import run


async def test_quick_benchmark_reports_both_modes() -> None:
    rows = await run(latency=0.01, quick=True)
    assert [r.extra["max_concurrent"] for r in rows] == [10, 5]
    assert all(r.items == 10 and r.serial_s > 0 and r.parallel_s > 0 for r in rows)
    assert rows[0].ideal_s == 0.01 and rows[1].ideal_s == 0.02  # ceil(N/C)·L
    assert rows[1].extra["max_in_flight"] == 5  # parallel_map really ran 5 calls at once against the server
