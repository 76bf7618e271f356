"""``kagura bench tracing`` runs end to end at a tiny size and reports the SDK's own floor next to the
hooks' cost (numbers not compared: speed is for benchmarks)."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from kagura.bench.tracing import run


async def test_the_row_reports_hooks_end_to_end_and_the_sdk_floor() -> None:
    (row,) = await run(calls=10)
    extra = row.extra
    assert extra["client_cpu_ms_per_call_off"] > 0 and extra["client_cpu_ms_per_call_on"] > 0
    assert extra["hooks_us_per_call"] > 0 and extra["sdk_floor_us_per_call"] > 0
    assert extra["sdk_floor_pct"] > 0
    # every call made two spans (the call's and its attempt's), the warm-ups and the floor loop too
    assert extra["spans_exported"] >= 2 * (3 * 10 + 20)
    assert row.checks == [("tracing_overhead_pct", "<=", 5.0)]
