"""``kagura bench quota`` runs end to end at tiny sizes (numbers not asserted: speed is for benchmarks)."""

from __future__ import annotations

from kagura.bench.quota import Sizes, run

TINY = Sizes(
    known_calls=12, known_rpm=1200, known_burst=4, concurrency=6, unknown_seconds=1.0, warmup_seconds=0.0,
    tpm_calls=4, tpm=600_000, fall_seconds=1.0, recovery_seconds=0.5,
)  # fmt: skip


async def test_every_scenario_reports_both_clients_side_by_side() -> None:
    rows = await run(latency=0.01, sizes=TINY)
    assert [r.operation.split(" ")[0] for r in rows] == ["a.", "b.", "b2.", "c.", "d."]
    for row in rows:
        assert row.serial_s > 0 and row.parallel_s > 0  # naive wall, kagura wall
        for name in ("naive", "kagura"):
            data = row.extra[name]
            assert data["requests"] >= data["calls"] - data["failed"] > 0  # the server saw every call
            assert 0 <= data["share_429"] <= 1
    known = rows[0].extra["kagura"]
    assert known["calls"] == 12 and known["failed"] == 0 and "wall_vs_ideal" in known
    assert "tpm_used" in rows[3].extra["kagura"] and "last_429_after_drop_s" in rows[4].extra["kagura"]
