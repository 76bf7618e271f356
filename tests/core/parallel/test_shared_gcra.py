"""The Redis GCRA script against a real redis-server: the spec's math, exactly, across processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from kagura.core.parallel.budgets._shared_gcra import SharedGCRA, connect_redis, read_budgets
from kagura.testing import RedisServer


class ReferenceGCRA:
    """The spec's math in plain Python, fed the server's clock readings (the differential reference)."""

    def __init__(self) -> None:
        self.tat = [float("-inf"), float("-inf")]
        self.last = float("-inf")

    def reserve(self, now: float, dims: list[tuple[float, float, float]]) -> float:
        admit = max(now, self.last)
        for i, (e, b, n) in enumerate(dims):
            if e > 0 and n > 0:
                admit = max(admit, self.tat[i] + min(n, b) * e - b * e)
        for i, (e, _b, n) in enumerate(dims):
            if e > 0 and n > 0:
                self.tat[i] = max(self.tat[i], admit) + n * e
        self.last = admit
        return admit

    def adjust(self, now: float, i: int, units: float, e: float, b: float) -> None:
        if units < 0:
            if self.tat[i] > now:
                self.tat[i] = max(now, self.tat[i] + units * e)
        else:
            self.tat[i] = max(self.tat[i], now - b * e) + units * e


def conformant(admits: list[float], per_unit: float, burst: float) -> bool:
    """No stretch of admissions is denser than the bucket allows: j-i+1 <= burst + (a_j - a_i)/e."""
    admits = sorted(admits)
    return all(
        j - i + 1 <= burst + (admits[j] - admits[i]) / per_unit + 1e-3
        for i in range(len(admits))
        for j in range(i, len(admits))
    )


@pytest.fixture
async def gcra(redis_server: RedisServer, request: pytest.FixtureRequest):
    client = connect_redis(redis_server.url)
    shared = SharedGCRA(client, f"test:{request.node.name}")
    yield shared
    await client.delete(shared.state_key, shared.members_key)
    await client.aclose()


async def test_requests_follow_the_reference_math_exactly(gcra: SharedGCRA) -> None:
    reference = ReferenceGCRA()
    e, burst = 60 / 1200, 10
    admits = []
    for _ in range(40):
        got = await gcra.reserve((e, burst, 1), (0, 0, 0))
        expected = reference.reserve(got.now, [(e, burst, 1), (0, 0, 0)])
        assert got.now + got.wait == pytest.approx(expected, abs=1e-6)
        admits.append(got.now + got.wait)
    assert admits == sorted(admits)  # first come, first served
    assert conformant(admits, e, burst)


async def test_tokens_bound_admission_and_adjust_refunds_and_charges(gcra: SharedGCRA) -> None:
    reference = ReferenceGCRA()
    e_req, b_req = 60 / 600, 10
    e_tok, b_tok = 60 / 6000, 100
    for cost, delta in [(50, 0), (80, -30), (200, 0), (10, 25), (100, -100), (30, 0)]:
        dims = [(e_req, b_req, 1), (e_tok, b_tok, cost)]
        got = await gcra.reserve(*dims)
        assert got.now + got.wait == pytest.approx(reference.reserve(got.now, dims), abs=1e-6)
        if delta:
            await gcra.adjust((0, e_req, b_req), (delta, e_tok, b_tok))
            # the script read the server clock itself: replay with the next reservation's reading, which
            # is later; refunds/charges are monotone in time only through max(), checked below.
            probe = await gcra.reserve((e_req, b_req, 0), (e_tok, b_tok, 0))
            reference.adjust(probe.now, 1, delta, e_tok, b_tok)
    state = await gcra.client.hgetall(gcra.state_key)
    assert float(state["tat_tok"]) == pytest.approx(reference.tat[1], abs=1e-3)


async def test_a_cost_above_capacity_waits_for_a_full_bucket_then_pays_in_full(gcra: SharedGCRA) -> None:
    e_tok, b_tok = 0.01, 100
    first = await gcra.reserve((0, 0, 0), (e_tok, b_tok, 250))  # 2.5x the bucket: admitted on a full one
    assert first.wait == 0
    second = await gcra.reserve((0, 0, 0), (e_tok, b_tok, 1))
    # the debt (250 units = 2.5 s) minus the bucket (1 s) plus one unit: about 1.51 s after the first
    assert second.now + second.wait - first.now == pytest.approx(2.5 - 1.0 + 0.01, abs=1e-3)


def test_several_processes_share_one_budget(redis_server: RedisServer, tmp_path) -> None:
    """Three real processes book 30 admissions each on one key: together they stay within one bucket."""
    e, burst, per_process, processes = 60 / 1200, 10, 30, 3
    script = textwrap.dedent(
        f"""
        import asyncio, json, sys
        from kagura.core.parallel.budgets._shared_gcra import SharedGCRA, connect_redis

        async def main():
            client = connect_redis({redis_server.url!r})
            gcra = SharedGCRA(client, "test:processes")
            out = []
            for _ in range({per_process}):
                got = await gcra.reserve(({e}, {burst}, 1), (0, 0, 0))
                out.append([got.now + got.wait, got.members])
            await client.aclose()
            print(json.dumps(out))

        asyncio.run(main())
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    admits = [a for r in results for a, _ in r]
    assert len(admits) == per_process * processes
    assert conformant(admits, e, burst)
    # the booked schedule has no gaps: 90 admissions span exactly (90 - burst) emission intervals
    assert max(admits) - min(admits) >= (len(admits) - burst) * e - 1e-6
    assert max(m for r in results for _, m in r) >= 2  # they saw each other in the member set


async def test_budget_show_reads_rates_members_and_backlog(gcra: SharedGCRA) -> None:
    await gcra.reserve((60 / 1200, 20, 1), (60 / 60000, 1000, 500))
    snapshots = {b.key: b for b in await read_budgets(gcra.client)}
    mine = snapshots[gcra.key]
    assert mine.requests_per_minute == pytest.approx(1200)
    assert mine.tokens_per_minute == pytest.approx(60000)
    assert mine.members == 1


async def test_a_closed_limiter_no_longer_counts_as_a_member(redis_server: RedisServer) -> None:
    watcher = connect_redis(redis_server.url)
    leaving = SharedGCRA(connect_redis(redis_server.url), "test:leaving")
    staying = SharedGCRA(connect_redis(redis_server.url), "test:leaving")
    try:
        for member in (leaving, staying):
            await member.reserve((60 / 1200, 20, 1), (0, 0, 0))
        assert {b.key: b.members for b in await read_budgets(watcher)}["test:leaving"] == 2
        await leaving.close()  # the process is done: `kagura budget show` must not list it any more
        assert {b.key: b.members for b in await read_budgets(watcher)}["test:leaving"] == 1
    finally:
        await staying.close()
        await watcher.delete(staying.state_key, staying.members_key)
        await watcher.aclose()


def test_redis_server_helper_restarts_on_the_same_port(own_redis_server: RedisServer) -> None:
    async def ping(url: str) -> bool:
        client = connect_redis(url)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    server = own_redis_server
    port = server.port
    assert asyncio.run(ping(server.url))
    server.kill()
    server.restart()
    assert server.port == port
    assert asyncio.run(ping(server.url))


def test_the_conformance_check_itself_catches_a_burst_too_large() -> None:
    assert conformant([0.0] * 10 + [0.05], 0.05, 10)
    assert not conformant([0.0] * 11, 0.05, 10)
    assert not conformant([0.0] * 10 + [0.04], 0.05, 10)
