"""``RateLimiter(redis=..., key=...)`` against a real redis-server: same math as local, and Redis failures."""

from __future__ import annotations

import asyncio
import random

import pytest

from kagura.core.parallel import RateLimiter
from kagura.core.parallel.budgets._shared_gcra import SharedGCRA, connect_redis
from kagura.errors import BudgetUnavailableError, ConfigurationError
from kagura.testing import RedisServer
from kagura.testing._redis_server import free_port


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_redis_books_exactly_what_the_local_limiter_books(redis_server: RedisServer) -> None:
    """Differential: the Lua script and the local buckets, fed the same clock readings, agree exactly."""
    rng = random.Random(7)
    clock = ManualClock()
    local = RateLimiter(requests_per_minute=1200, tokens_per_minute=60_000, clock=clock)
    client = connect_redis(redis_server.url)
    shared = SharedGCRA(client, "test:differential")
    try:
        for step in range(120):
            tokens = rng.choice([0, 10, 200, 700, 2500])  # 2500 is above the token bucket (500)
            req, tok = local._specs(1.0, tokens)
            got = await shared.reserve(req, tok)
            clock.now = got.now  # the local limiter sees the instant the server saw
            assert local.reserve(tokens) == pytest.approx(got.now + got.wait, abs=1e-6), step
            if step % 10 == 9:  # a reconciliation: the provider's usage differed from the estimate
                delta = rng.choice([-300, -50, 80, 400])
                await shared.adjust((0, *req[:2]), (delta, *tok[:2]))
                probe = await shared.reserve((req[0], req[1], 0), (tok[0], tok[1], 0))
                clock.now = probe.now
                local.adjust(delta)
    finally:
        await client.delete(shared.state_key, shared.members_key)
        await client.aclose()


async def test_limiters_in_one_budget_see_each_other_and_book_in_order(redis_server: RedisServer) -> None:
    a = RateLimiter(requests_per_minute=6000, burst=5, redis=redis_server.url, key="test:two")
    b = RateLimiter(requests_per_minute=6000, burst=5, redis=redis_server.url, key="test:two")
    await asyncio.gather(*(lim.acquire() for lim in (a, b) for _ in range(10)))
    assert a.shared is not None and b.shared is not None
    assert max(a.shared.members, b.shared.members) == 2
    assert a.booked[0] + b.booked[0] == 20
    client = connect_redis(redis_server.url)
    state = await client.hgetall("kagura:budget:test:two")
    await client.aclose()
    # 20 requests asked at once of one bucket of 5 at 100/s: a queue formed, so the last one was booked
    # exactly when its unit fitted (one whole bucket, 5 intervals, before the bucket is full again)
    assert float(state["tat_req"]) - float(state["last"]) == pytest.approx(0.05, abs=1e-6)
    await a.shared.close()
    await b.shared.close()


async def test_unreachable_at_start_is_a_configuration_error_naming_the_url() -> None:
    limiter = RateLimiter(
        requests_per_minute=60, redis=f"redis://:hunter2@127.0.0.1:{free_port()}/0", key="test:nowhere"
    )
    with pytest.raises(ConfigurationError, match=r"cannot reach Redis at redis://:\*\*\*@127") as info:
        await limiter.acquire()
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("on_redis_error", ["degrade", "fail"])
async def test_redis_lost_mid_run_then_back(on_redis_error: str, own_redis_server: RedisServer) -> None:
    """Lost: a fair local share (degrade) or BudgetUnavailableError (fail); back: shared again."""
    server = own_redis_server
    clock = ManualClock()
    budget = dict(requests_per_minute=6000, tokens_per_minute=600_000, redis=server.url, key="test:lost")
    mine = RateLimiter(**budget, clock=clock, on_redis_error=on_redis_error)  # type: ignore[arg-type]
    other = RateLimiter(**budget)  # type: ignore[arg-type]  # a second member of the budget
    await other.acquire()
    await mine.acquire(10)
    shared = mine.shared
    assert shared is not None and shared.members == 2 and not shared.degraded
    server.kill()
    if on_redis_error == "fail":
        with pytest.raises(BudgetUnavailableError, match="test:lost"):
            await mine.acquire(10)
    else:
        await mine.acquire(10)  # no error: this process goes on with half the budget
        assert shared.degraded
        local = shared._local
        assert isinstance(local, RateLimiter)
        assert local.requests_per_minute == pytest.approx(3000)
        assert local.tokens_per_minute == pytest.approx(300_000)
        before = local.booked[1]
        mine.adjust(40)  # the provider's usage was 40 tokens more than estimated: charged locally
        await asyncio.gather(*shared._pending)
        assert local.booked[1] == pytest.approx(before + 40)
    server.restart()
    clock.now += 0.4  # inside the first backoff (0.5 s): Redis is not asked yet
    if on_redis_error == "degrade":
        await mine.acquire(10)
        assert shared.degraded
    clock.now += 0.2
    await mine.acquire(10)
    assert not shared.degraded
    await shared.close()
    assert other.shared is not None
    await other.shared.close()


def test_shared_limiter_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="needs both redis="):
        RateLimiter(requests_per_minute=60, key="x")
    with pytest.raises(ValueError, match="needs both redis="):
        RateLimiter(requests_per_minute=60, redis="redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="redis must be a URL"):
        RateLimiter(requests_per_minute=60, redis="127.0.0.1:6379", key="x")
    with pytest.raises(ValueError, match="on_redis_error"):
        RateLimiter(requests_per_minute=60, redis="redis://h/0", key="x", on_redis_error="ignore")  # type: ignore[arg-type]
    limiter = RateLimiter(requests_per_minute=60, redis="redis://127.0.0.1:6379/0", key="x")
    with pytest.raises(TypeError, match="await acquire"):
        limiter.reserve()


async def test_an_outage_never_overlaps_what_redis_booked_nor_what_the_local_share_booked(
    own_redis_server: RedisServer,
) -> None:
    """Lost: the local share starts after this process's last Redis booking. Back: the local backlog is
    charged to the (restarted, empty) shared budget before anything else is admitted there."""
    server = own_redis_server
    clock = ManualClock()
    limiter = RateLimiter(requests_per_minute=6000, burst=5, redis=server.url, key="t:o", clock=clock)
    await asyncio.gather(*(limiter.acquire() for _ in range(20)))  # a queue 15 intervals deep
    shared = limiter.shared
    assert shared is not None
    booked_until = shared._booked_until
    assert booked_until > clock.now  # Redis booked starts ahead of this (frozen) clock
    server.kill()
    await limiter.acquire()
    local = shared._local
    assert isinstance(local, RateLimiter)
    assert local.wait_time() >= booked_until - clock.now  # nothing locally before Redis's bookings
    for _ in range(100):  # the local share books a second of admissions ahead
        local.reserve()
    server.restart()
    clock.now += 0.6  # past the first backoff (0.5 s): the next admission asks Redis again
    backlog = local.usage()[0]
    assert backlog >= 30
    await limiter.acquire()
    assert not shared.degraded
    client = connect_redis(server.url)
    state = await client.hgetall("kagura:budget:t:o")
    await client.aclose()
    # The restarted budget was charged the local backlog before this admission: the admission found
    # the bucket already booked (its start is one whole bucket, 50 ms, before the bucket is full
    # again; on an empty bucket it would start at once, 10 ms before).
    assert float(state["tat_req"]) - float(state["last"]) == pytest.approx(0.05, abs=1e-6)
    await shared.close()


async def test_concurrent_failures_advance_the_reconnect_backoff_once(own_redis_server: RedisServer) -> None:
    """20 admissions in flight when Redis goes away are one failed probe, not 20 (before: 30 s at once)."""
    clock = ManualClock()
    limiter = RateLimiter(
        requests_per_minute=60_000, redis=own_redis_server.url, key="t:backoff", clock=clock
    )
    await limiter.acquire()
    shared = limiter.shared
    assert shared is not None
    own_redis_server.kill()
    await asyncio.gather(*(limiter.acquire() for _ in range(20)))
    assert shared.degraded
    assert shared._retry_at == pytest.approx(clock.now + 0.5)  # the first backoff
    assert shared._backoff == pytest.approx(1.0)  # doubled once, for the next failed probe
    clock.now += 0.6
    await limiter.acquire()  # the next probe fails too: the backoff advances once more
    assert shared._retry_at == pytest.approx(clock.now + 1.0) and shared._backoff == pytest.approx(2.0)
    await shared.close()
