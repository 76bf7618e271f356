"""RateLimiter: GCRA budgets (smooth rate, bounded burst) in virtual time, shared across threads."""

from __future__ import annotations

import asyncio
import math
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kagura.core.parallel import RateLimiter, parallel_map_sync
from kagura.core.parallel.budgets._limits import DEFAULT_BURST_SECONDS


async def admissions(limiter: RateLimiter, costs: list[int]) -> list[float]:
    """Start one acquire per cost at once (in list order); return when each was admitted."""
    loop = asyncio.get_running_loop()
    times: list[float] = [math.nan] * len(costs)

    async def one(i: int, cost: int) -> None:
        await limiter.acquire(cost)
        times[i] = loop.time()

    await asyncio.gather(*(one(i, c) for i, c in enumerate(costs)))
    return times


def conforms(times: list[float], costs: list[float], rate: float, capacity: float) -> bool:
    """True if every run of admissions i..j spent at most capacity + rate * (t_j - t_i) (GCRA's promise)."""
    order = sorted(range(len(times)), key=lambda k: times[k])
    for a in range(len(order)):
        spent = 0.0
        for b in range(a, len(order)):
            spent += costs[order[b]]
            if spent > capacity + rate * (times[order[b]] - times[order[a]]) + 1e-6:
                return False
    return True


@pytest.mark.looptime
async def test_after_the_burst_admissions_are_exactly_the_rate_apart() -> None:
    limiter = RateLimiter(requests_per_minute=120, burst=3, clock=asyncio.get_running_loop().time)
    times = await admissions(limiter, [0] * 10)
    assert times[:3] == [0.0, 0.0, 0.0]  # the burst
    assert times[3:] == pytest.approx([0.5 * k for k in range(1, 8)])  # then 120/60 = 2 per second


@pytest.mark.looptime
async def test_the_default_burst_is_half_a_second_of_rate_and_at_least_one() -> None:
    loop = asyncio.get_running_loop()
    assert DEFAULT_BURST_SECONDS == 0.5
    assert RateLimiter(requests_per_minute=1200).burst == 10
    assert RateLimiter(requests_per_minute=500).burst == 4  # 4.17 rounded down
    assert RateLimiter(requests_per_minute=60).burst == 1
    limiter = RateLimiter(requests_per_minute=1200, clock=loop.time)
    times = await admissions(limiter, [0] * 30)
    assert times[:10] == [0.0] * 10
    assert times[10:] == pytest.approx([0.05 * k for k in range(1, 21)])
    # Never more than burst + rate * span in any run of admissions (what a 20/s, burst-20 bucket needs).
    assert conforms(times, [1] * 30, rate=20, capacity=10)


@pytest.mark.looptime
async def test_fractional_budgets_work() -> None:
    """0.5 requests per minute is one call every 120 s (this raised IndexError with the sliding window)."""
    limiter = RateLimiter(requests_per_minute=0.5, clock=asyncio.get_running_loop().time)
    assert await admissions(limiter, [0, 0, 0]) == pytest.approx([0.0, 120.0, 240.0])
    tokens = RateLimiter(tokens_per_minute=1.5, clock=asyncio.get_running_loop().time)  # 1 token per 40 s
    assert tokens.token_burst == pytest.approx(0.0125)
    assert await admissions(tokens, [1, 1]) == pytest.approx([240.0, 280.0])  # the loop is at t=240


@pytest.mark.looptime
async def test_token_costs_flow_at_the_token_rate_and_a_cost_above_capacity_never_raises() -> None:
    limiter = RateLimiter(tokens_per_minute=600, clock=asyncio.get_running_loop().time)  # 10/s, bucket 5
    assert limiter.token_burst == 5
    times = await admissions(limiter, [5, 5, 50, 2, 0])
    # 5 fits the full bucket; the next 5 waits 0.5 s; 50 (ten buckets) waits for a full bucket, is charged
    # in full, and the request after it pays the debt: 2 tokens at 5.0 + 0.2 - 0.5.
    assert times == pytest.approx([0.0, 0.5, 1.0, 5.7, 5.7])


@pytest.mark.looptime
@settings(max_examples=30, deadline=None)
@given(
    costs=st.lists(st.integers(0, 40), min_size=1, max_size=40),
    rpm=st.sampled_from([None, 30, 600, 7.5]),
    tpm=st.sampled_from([600, 1000, 6000]),
)
async def test_random_costs_never_exceed_either_bucket_and_keep_arrival_order(
    costs: list[int], rpm: float | None, tpm: float
) -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(rpm, tpm, clock=lambda: loop.time() - base)
    base = loop.time()
    times = [t - base for t in await admissions(limiter, costs)]
    assert times == sorted(times)  # first come, first served
    capacity = limiter.token_burst
    assert capacity is not None
    if max(costs) <= capacity:
        assert conforms(times, [float(c) for c in costs], rate=tpm / 60, capacity=capacity)
    if rpm is not None and limiter.burst is not None:
        assert conforms(times, [1.0] * len(costs), rate=rpm / 60, capacity=limiter.burst)


@pytest.mark.looptime
async def test_requests_are_admitted_first_come_first_served() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=600, tokens_per_minute=60, clock=loop.time)
    # The big request arrives second; neither small nor free requests behind it may overtake it.
    times = await admissions(limiter, [1, 100, 1, 0, 1])
    assert times == sorted(times)
    assert times[0] < times[1] < times[2]
    # Every cost is above the 0.5-token bucket: each waits for a full bucket, the next pays its debt.
    assert times == pytest.approx([0.0, 1.0, 101.0, 101.0, 102.0])


@pytest.mark.looptime
async def test_adjust_refunds_and_charges_the_token_bucket() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(tokens_per_minute=600, clock=loop.time)  # 10 tokens/s, bucket of 5
    assert limiter.reserve(5) == 0.0
    assert limiter.usage() == (0.0, pytest.approx(5.0))
    limiter.adjust(-5)  # the call used nothing after all
    assert limiter.reserve(5) == 0.0  # the refunded tokens are there again
    limiter.adjust(-100)  # a refund never makes the bucket hold more than it can
    assert limiter.usage() == (0.0, 0.0)
    assert limiter.reserve(5) == 0.0
    assert limiter.reserve(5) == pytest.approx(0.5)  # no credit beyond a full bucket
    limiter.adjust(+10)  # the previous call used 10 more than estimated: one more second of debt
    assert limiter.reserve(1) == pytest.approx(2.0 + 0.1 - 0.5)  # bucket full again at 1.0 + 1.0 s
    assert limiter.booked == (5, 5 - 5 + 5 - 5 + 5 + 5 + 10 + 1)  # the -100 gave back only the 5 spent
    RateLimiter(requests_per_minute=60).adjust(1000)  # no token budget: nothing to reconcile


@pytest.mark.looptime
async def test_set_rates_changes_a_live_budget_and_keeps_what_was_spent() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=60, clock=loop.time)  # 1/s, burst 1
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(1.0)  # booked at the old rate: kept
    limiter.set_rates(requests_per_minute=120)  # 2 requests owed, now paid at 2/s
    assert limiter.burst == 1
    assert limiter.reserve() == pytest.approx(1.0)
    assert limiter.reserve() == pytest.approx(1.5)
    limiter.set_rates(requests_per_minute=30, burst=2)  # owed: 4 requests at 0.5/s
    assert limiter.reserve() == pytest.approx(6.0)  # 8 s of debt, and a bucket of 2
    limiter.set_rates(tokens_per_minute=60)  # the explicit burst is kept, and the token bucket matches it
    assert (limiter.burst, limiter.token_burst) == (2, pytest.approx(4.0))
    limiter.set_rates(requests_per_minute=None)  # the explicit burst goes with the request budget
    assert (limiter.burst, limiter.token_burst) == (None, pytest.approx(0.5))
    limiter.set_rates(tokens_per_minute=None)
    assert limiter.reserve() == pytest.approx(6.0)  # no limit left; only arrival order holds
    with pytest.raises(ValueError, match="requests_per_minute"):
        limiter.set_rates(requests_per_minute=float("nan"))


@pytest.mark.looptime
async def test_a_cancelled_waiter_gives_its_reservation_back() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=1, clock=loop.time)
    await limiter.acquire()  # t=0, budget used
    waiter = asyncio.create_task(limiter.acquire())  # would start at t=60
    await asyncio.sleep(1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(59)
    await limiter.acquire()  # the cancelled booking is gone: this one starts at t=60, not t=120
    assert loop.time() == pytest.approx(60.0)
    assert limiter.booked == (2, 0.0)


@pytest.mark.looptime
@pytest.mark.parametrize("order", ["first_booked_first", "last_booked_first"])
async def test_many_cancelled_waiters_all_give_their_slots_back(order: str) -> None:
    """Ten waiters cancelled together, their give-backs in either order: the next caller starts as if
    none of them had ever asked (once the latest is given back, every earlier one uncovered goes too)."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=60, clock=loop.time)  # one a second, burst 1
    await limiter.acquire()  # t=0
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(10)]  # booked at t=1..10
    await asyncio.sleep(0.2)
    for waiter in waiters if order == "first_booked_first" else reversed(waiters):
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert limiter.booked == (1, 0.0)
    await limiter.acquire()
    assert loop.time() == pytest.approx(1.0)  # the slot after t=0, not after the ten cancelled ones


@pytest.mark.looptime
async def test_a_token_reconciliation_between_does_not_keep_cancelled_request_slots() -> None:
    """A call finishing meanwhile reconciles its tokens (``adjust``): the cancelled bookings still give
    their request slots and their place in the order back; only their own tokens stay spent."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=60, tokens_per_minute=6000, clock=loop.time)
    await limiter.acquire(10)  # t=0
    waiters = [asyncio.create_task(limiter.acquire(10)) for _ in range(10)]  # t=1..10
    await asyncio.sleep(0.2)
    limiter.adjust(5)  # the first call used 5 tokens more than estimated
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert limiter.booked == (1, 15.0 + 100.0)  # the ten bookings' tokens stay counted
    await limiter.acquire()
    assert loop.time() == pytest.approx(1.0)  # the request slot after t=0, not after the ten cancelled


@pytest.mark.looptime
async def test_a_cancelled_booking_before_a_used_one_stays_spent() -> None:
    """Giving back a booking while a later one keeps its slot would let the next caller take the freed
    slot at the same time as that later booking: a burst above the budget. It stays spent."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=60, clock=loop.time)
    await limiter.acquire()  # t=0
    early = asyncio.create_task(limiter.acquire())  # t=1
    kept = asyncio.create_task(limiter.acquire())  # t=2
    await asyncio.sleep(0.2)
    early.cancel()
    with pytest.raises(asyncio.CancelledError):
        await early
    await kept
    assert loop.time() == pytest.approx(2.0)
    await limiter.acquire()
    assert loop.time() == pytest.approx(3.0)  # after the kept one, never beside it


async def test_a_limiter_without_budgets_never_waits() -> None:
    limiter = RateLimiter()
    for _ in range(1000):
        await limiter.acquire(10**9)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), -float("inf")])
def test_rates_that_are_not_positive_and_finite_are_value_errors(bad: float) -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=bad)
    with pytest.raises(ValueError, match="tokens_per_minute"):
        RateLimiter(tokens_per_minute=bad)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(requests_per_minute=60, burst=bad)
    with pytest.raises(ValueError, match="tokens"):
        RateLimiter(tokens_per_minute=100).reserve(bad if bad != 0 else -1)


def test_bad_argument_types_are_type_errors_and_burst_needs_a_request_rate() -> None:
    with pytest.raises(TypeError, match="tokens_per_minute"):
        RateLimiter(tokens_per_minute="100")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=True)
    with pytest.raises(TypeError, match="clock"):
        RateLimiter(10, clock=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 1"):
        RateLimiter(requests_per_minute=60, burst=0.5)
    with pytest.raises(ValueError, match="needs requests_per_minute"):
        RateLimiter(tokens_per_minute=1000, burst=5)
    with pytest.raises(TypeError, match="tokens"):
        RateLimiter(tokens_per_minute=100).adjust("5")  # type: ignore[arg-type]


def test_one_limiter_shared_by_threads_each_with_its_own_loop_books_exactly_the_rate() -> None:
    """8 threads x 2000 bookings race on one limiter with a frozen clock: the schedule is exact."""
    limiter = RateLimiter(requests_per_minute=1000, tokens_per_minute=10_000, burst=10, clock=lambda: 0.0)
    booked: list[float] = []
    booked_lock = threading.Lock()
    barrier = threading.Barrier(8)

    async def book(n: int) -> list[float]:
        barrier.wait()
        return [limiter.reserve(10) for _ in range(n)]

    def thread_main() -> None:
        times = asyncio.run(book(2000))
        with booked_lock:
            booked.extend(times)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to provoke races
    try:
        threads = [threading.Thread(target=thread_main) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)

    # Both buckets hold 0.6 s (10 requests, 100 tokens); after them one booking every 60 ms, none lost.
    expected = [max(0.0, (k - 9) * 0.06) for k in range(16_000)]
    assert sorted(booked) == pytest.approx(expected, abs=1e-6)
    assert limiter.booked == (16_000, 160_000)


def test_threads_running_parallel_map_share_one_budget() -> None:
    """8 threads, each with its own loop (via parallel_map_sync), run 50 items through one limiter."""
    limiter = RateLimiter(requests_per_minute=600_000, burst=100)
    done: list[list[int]] = []

    async def item(x: int) -> int:
        await asyncio.sleep(0)
        return x

    def thread_main() -> None:
        done.append(parallel_map_sync(item, range(50), max_concurrent=5, limiters=[limiter]))

    threads = [threading.Thread(target=thread_main) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == [list(range(50))] * 8
    assert limiter.booked == (400, 0.0)  # every request of every thread was booked, none lost to a race
