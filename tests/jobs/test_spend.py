"""The dollar cap: reservations of the worst case never let the spend pass it (local and through Redis)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kagura.core.llm import LLMClient, LLMConfig, PriceTable
from kagura.jobs import Job, RedisSpendCap, SpendCap
from kagura.testing import FakeLLMServer, RedisServer


async def _spend(cap: SpendCap, calls: list[tuple[float, float]]) -> float:
    """Run calls (worst, actual <= worst) concurrently through ``cap``; the total actually spent."""
    spent = 0.0

    async def one(worst: float, actual: float) -> None:
        nonlocal spent
        if await cap.reserve(worst):
            await asyncio.sleep(0)
            spent += actual
            await cap.settle(worst, actual)

    await asyncio.gather(*(one(w, a) for w, a in calls))
    return spent


_calls = st.lists(
    st.tuples(st.floats(0, 2.0), st.floats(0, 1)).map(lambda t: (t[0], t[0] * t[1])), min_size=1, max_size=60
)


@given(limit=st.floats(0, 10), calls=_calls, already=st.floats(0, 5))
@settings(max_examples=200, deadline=None)
def test_local_cap_never_lets_the_spend_pass_it(
    limit: float, calls: list[tuple[float, float]], already: float
) -> None:
    cap = SpendCap(limit + already, spent=already)
    assert asyncio.run(_spend(cap, calls)) <= limit + 1e-9


@given(calls=_calls)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_redis_cap_shared_by_two_processes_never_passes_it(
    redis_server: RedisServer, calls: list[Any]
) -> None:
    key = f"test:spend:{random.getrandbits(64)}"

    async def both() -> float:
        one = RedisSpendCap(3.0, redis_server.url, key)
        two = RedisSpendCap(3.0, redis_server.url, key)
        try:
            half = len(calls) // 2
            spent = await asyncio.gather(_spend(one, calls[:half]), _spend(two, calls[half:]))
        finally:
            await one.aclose()
            await two.aclose()
        return sum(spent)

    assert asyncio.run(both()) <= 3.0 + 1e-9


@pytest.mark.parametrize("seed", range(4))
async def test_a_job_with_random_answer_lengths_stays_under_its_cap(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)

    def answer(messages: list[dict[str, Any]]) -> str:  # up to max_tokens=30 tokens (4 characters each)
        return "x" * rng.randint(0, 120)

    rows = [{"custom_id": f"q{i}", "prompt": "p" * rng.randint(1, 200), "max_tokens": 30} for i in range(80)]
    prices = PriceTable.from_mapping({"fake": {"input": 50.0, "output": 400.0}})
    limit = 0.2
    async with FakeLLMServer(responder=answer) as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="t")
        async with LLMClient(config, prices=prices) as client:
            from kagura.cli._job_setup import JobSetup

            setup = JobSetup(config, prices, None, limit, None, str(tmp_path / "l.db"), "", "fake", 8)
            job = Job(rows, ledger=tmp_path / "l.db", client=client, worst_of=setup.worst_of,
                      spend=SpendCap(limit), max_concurrent=8)  # fmt: skip
            report = await job.run()
    billed = (server.stats.prompt_tokens * 50.0 + server.stats.completion_tokens * 400.0) / 1e6
    assert report.stopped_at_budget and report.done < 80
    assert report.cost_usd <= limit and billed <= limit  # by the ledger, and by the server's own counts
    assert server.stats.requests == report.requests
