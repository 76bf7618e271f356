"""Smoke test of the router benchmark: decisions and request counts, never timings."""

from __future__ import annotations

from kagura.bench.router import run


async def test_router_benchmark_quick_agrees_and_saves_round_trips() -> None:
    plain, enhanced, mix = await run(latency=0.0, quick=True)
    assert [plain.operation, enhanced.operation, mix.operation] == [
        "router no-enhancement path",
        "router enhancement path",
        "router mix (labelled set)",
    ]
    assert plain.items + enhanced.items == mix.items == 16
    for row in (plain, enhanced, mix):
        assert row.extra["agreement"] == 1.0
        assert row.extra["label_accuracy"] == 1.0
    paths = plain.extra["paths"]
    # serial: analysis + routing for every query; speculative: one call on the direct path, two overlapped
    # calls on the preliminary path
    assert plain.extra["llm_requests_serial"] == 2 * plain.items
    assert plain.extra["llm_requests_parallel"] == paths["direct"] + 2 * paths["preliminary"]
    assert enhanced.extra["paths"]["enhanced"] == enhanced.items
