"""RateLimiter: exact sliding 60 s windows, checked in virtual time, and shared across threads."""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from collections import Counter

import pytest

from kagura.core.parallel import RateLimiter, parallel_map_sync


def max_in_any_window(events: list[tuple[float, float]], period: float = 60.0) -> float:
    """Largest total amount started within any half-open window [t, t + period) that begins at an event."""
    events = sorted(events)
    best = 0.0
    for i, (start, _) in enumerate(events):
        best = max(best, sum(a for t, a in events[i:] if t < start + period - 1e-9))
    return best


@pytest.mark.looptime
async def test_rpm_window_is_never_exceeded_and_saturated_use_is_full() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=50, clock=loop.time)
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        starts.append(loop.time())

    await asyncio.gather(*(one() for _ in range(150)))

    assert len(starts) == 150
    assert max_in_any_window([(t, 1) for t in starts]) <= 50
    # Saturated: each consecutive minute uses the whole budget, so 150 requests take exactly 2 minutes.
    per_minute = Counter(int(t // 60) for t in starts)
    assert per_minute == {0: 50, 1: 50, 2: 50}
    assert loop.time() == pytest.approx(120.0)


@pytest.mark.looptime
async def test_tpm_window_is_never_exceeded_and_saturated_use_is_at_least_95_percent() -> None:
    loop = asyncio.get_running_loop()
    tpm = 2000
    limiter = RateLimiter(tokens_per_minute=tpm, clock=loop.time)
    rng = random.Random(7)
    costs = [rng.randint(1, 40) for _ in range(600)]  # each request is at most 2 % of the budget
    spent: list[tuple[float, float]] = []

    async def one(cost: int) -> None:
        await limiter.acquire(cost)
        spent.append((loop.time(), cost))
        await asyncio.sleep(rng.uniform(0, 5))  # the call itself takes a while

    await asyncio.gather(*(one(c) for c in costs))

    assert max_in_any_window(spent) <= tpm
    last_start = max(t for t, _ in spent)
    # Every full minute before the last start used >= 95 % of the budget.
    full_minutes = int(last_start // 60)
    assert full_minutes >= 5
    for minute in range(full_minutes):
        used = sum(c for t, c in spent if minute * 60 <= t < (minute + 1) * 60)
        assert used >= 0.95 * tpm, (minute, used)


@pytest.mark.looptime
async def test_rpm_and_tpm_together_respect_both_budgets() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=10, tokens_per_minute=100, clock=loop.time)
    events: list[tuple[float, float]] = []

    async def one(cost: int) -> None:
        await limiter.acquire(cost)
        events.append((loop.time(), cost))

    await asyncio.gather(*(one(c) for c in [5] * 30 + [30] * 10))

    assert max_in_any_window([(t, 1) for t, _ in events]) <= 10
    assert max_in_any_window(events) <= 100
    # 30 cheap requests are bound by RPM (3 minutes), 10 x 30 tokens by TPM (3 per minute).
    assert len(events) == 40


@pytest.mark.looptime
async def test_requests_are_admitted_first_come_first_served() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(tokens_per_minute=100, clock=loop.time)
    order: list[str] = []

    async def one(name: str, cost: int) -> None:
        await limiter.acquire(cost)
        order.append(name)

    # The big request arrives second; the small ones behind it must not overtake it forever.
    await asyncio.gather(one("a", 60), one("big", 100), one("b", 10), one("c", 10))
    assert order == ["a", "big", "b", "c"]


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


async def test_a_limiter_without_budgets_never_waits() -> None:
    limiter = RateLimiter()
    for _ in range(1000):
        await limiter.acquire(10**9)


def test_bad_arguments_are_rejected_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=0)
    with pytest.raises(TypeError, match="tokens_per_minute"):
        RateLimiter(tokens_per_minute="100")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="clock"):
        RateLimiter(10, clock=5)  # type: ignore[arg-type]
    limiter = RateLimiter(tokens_per_minute=100)
    with pytest.raises(ValueError, match="can never fit"):
        limiter.reserve(101)
    with pytest.raises(ValueError, match=">= 0"):
        limiter.reserve(-1)


def test_one_limiter_shared_by_threads_each_with_its_own_loop_books_exactly_the_budget() -> None:
    """8 threads x 2000 bookings race on one limiter with a frozen clock: every minute gets exactly 1000."""
    limiter = RateLimiter(requests_per_minute=1000, tokens_per_minute=10_000, clock=lambda: 0.0)
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

    assert Counter(booked) == {60.0 * minute: 1000 for minute in range(16)}


def test_threads_running_parallel_map_share_one_budget() -> None:
    """8 threads, each with its own loop (via parallel_map_sync), run 50 items through one limiter."""
    limiter = RateLimiter(requests_per_minute=400)
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
    assert limiter.usage()[0] == 400  # every request of every thread was booked, none lost to a race
    # The budget is now exhausted: the next booking lands a minute after the first ones.
    assert limiter.reserve() > limiter._clock() + 50
