"""``kagura bench shared``'s worker fleet: started once, it serves scenario after scenario (numbers not
asserted: speed is for benchmarks)."""

from __future__ import annotations

from kagura.bench.shared import Sizes, Workers, _command
from kagura.testing import FakeLLMProcess

TINY = Sizes(processes=2, calls=4, concurrency=2, rpm=6000)


async def test_one_fleet_serves_several_scenarios_each_started_once_all_are_ready() -> None:
    async with FakeLLMProcess(0.01, quota_rpm=TINY.rpm) as server, Workers(server, TINY.processes) as fleet:
        counted = await fleet.run(_command(TINY, "k-one", redis=None, rpm=TINY.rpm, calls=TINY.calls))
        timed = await fleet.run(_command(TINY, "k-two", redis=None, rpm=None, seconds=0.5))
    assert [w["calls"] for w in counted.workers] == [TINY.calls] * TINY.processes
    assert counted.requests >= TINY.processes * TINY.calls  # the server's counters are this scenario's
    assert all(w["failed"] == 0 for w in counted.workers + timed.workers)
    assert len(timed.workers) == TINY.processes and timed.requests > 0  # the same processes, a new scenario
