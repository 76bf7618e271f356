"""Every attempt passes every budget in scope, and admission happens as close to the send as it can.

- A ``parallel_map(..., limiters=[budget])`` around calls that retry on their own (``call_with_retry``,
  an ``LLMClient`` retrying a 429): each retry is admitted through ``budget`` too; the first attempt uses
  the scheduler's admission (never booked twice), unless, in an ``LLMClient``, it went stale while the call
  waited for its concurrency slot: then the call books anew right before its send.
- The SDK client is built before the budget admits a call (not between admission and send).
"""

from __future__ import annotations

import asyncio

import pytest

from kagura.core.llm import LLMClient, LLMConfig, call_llm, default_clients
from kagura.core.parallel import RateLimiter, call_with_retry, limiters_in_scope, parallel_map
from kagura.errors import RetryableError
from kagura.testing import FakeLLMServer


class CountingLimiter(RateLimiter):
    """A real limiter that counts admissions (and can look at something at each one)."""

    def __init__(self, *args, look=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.acquired = 0
        self.look = look
        self.seen: list[object] = []

    async def acquire(self, tokens: float = 0) -> None:
        self.acquired += 1
        if self.look is not None:
            self.seen.append(self.look())
        await super().acquire(tokens)


@pytest.fixture(autouse=True)
def _forget_default_clients():
    yield
    default_clients.clear()


async def test_retries_inside_an_item_pass_the_runs_limiters_once_each() -> None:
    budget = CountingLimiter(6000)
    failures = {i: 2 for i in range(5)}  # each item's inner call fails twice, then succeeds
    inner_attempts = 0

    async def flaky(i: int) -> int:
        nonlocal inner_attempts
        inner_attempts += 1
        if failures[i]:
            failures[i] -= 1
            raise RetryableError("busy")
        return i

    async def item(i: int) -> int:
        assert limiters_in_scope() == (budget,)
        return await call_with_retry(lambda: flaky(i), timeout=None)

    assert await parallel_map(item, range(5), max_concurrent=5, limiters=[budget]) == list(range(5))
    assert inner_attempts == 15
    assert budget.acquired == 15  # one per attempt: the scheduler's for the first, one per retry
    assert limiters_in_scope() == ()  # nothing leaks out of the run


async def test_scopes_nest_and_a_limiter_is_never_booked_twice() -> None:
    outer, inner = CountingLimiter(6000), CountingLimiter(6000)

    async def leaf(i: int) -> int:
        assert limiters_in_scope() == (outer, inner)
        return await call_with_retry(lambda: asyncio.sleep(0, i), limiters=[inner])

    async def item(i: int) -> list[int]:
        return await parallel_map(leaf, [i, i + 1], max_concurrent=2, limiters=[outer, inner])

    assert await parallel_map(item, [0, 10], max_concurrent=2, limiters=[outer]) == [[0, 1], [10, 11]]
    # each leaf is one attempt, admitted once by each budget: the first leaf of an item uses the outer
    # run's admission of that item, and the leaves' own call_with_retry uses the inner run's
    assert outer.acquired == 4
    assert inner.acquired == 4


@pytest.mark.looptime
async def test_an_llm_clients_retries_pass_the_schedulers_budget(fake_llm_server: FakeLLMServer) -> None:
    loop = asyncio.get_running_loop()
    fake_llm_server.fail_next(429, 6, retry_after=0.01)
    config = LLMConfig(
        model="fake", base_url=fake_llm_server.base_url, api_key="scope", max_attempts=5, retry_max_delay=0.05
    )
    budget = CountingLimiter(600, clock=loop.time)
    client = LLMClient(config, adaptive=False, clock=loop.time)
    answers = await parallel_map(
        client.call, [f"q{i}" for i in range(10)], max_concurrent=10, limiters=[budget]
    )
    assert len(answers) == 10
    assert fake_llm_server.stats.chat_requests == 16
    # every attempt booked (before: 10, the 6 retries went around the budget); all 10 first attempts
    # left at once (no wait at a gate: adaptive control is off), on the scheduler's admission
    assert budget.acquired == 16


@pytest.mark.looptime
async def test_the_documented_call_llm_map_admits_retries_through_its_limiter(
    fake_llm_server: FakeLLMServer,
) -> None:
    loop = asyncio.get_running_loop()
    fake_llm_server.fail_next(429, 3, retry_after=0.01)
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="doc", retry_max_delay=0.05)
    budget = CountingLimiter(1200, clock=loop.time)
    prompts = [f"p{i}" for i in range(8)]
    await parallel_map(lambda p: call_llm(p, config), prompts, max_concurrent=8, limiters=[budget])
    # each attempt booked once; a first attempt that waited for the client's concurrency slot books anew
    # (its earlier admission passed unused), so at least one booking per request
    assert budget.acquired >= fake_llm_server.stats.chat_requests == 11


async def test_the_sdk_client_is_built_before_the_budget_admits(fake_llm_server: FakeLLMServer) -> None:
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="cold")
    box: dict[str, LLMClient] = {}

    def built() -> bool:
        clients = getattr(box["client"].provider, "_clients", {})
        return bool(clients.get(asyncio.get_running_loop()))

    limiter = CountingLimiter(6000, look=built)
    box["client"] = client = LLMClient(config, limiter=limiter)
    await asyncio.gather(*(client.call(f"cold {i}") for i in range(5)))
    assert limiter.seen == [True] * 5  # before: the first admissions came before the SDK client existed
    await client.aclose()
