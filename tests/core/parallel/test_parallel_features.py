"""Optional features through the entry points: outcomes, retries, timeouts, budgets, progress, streaming."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from kagura.core.parallel import (
    Outcome,
    RateLimiter,
    RetryPolicy,
    parallel_map,
    parallel_map_outcomes,
    parallel_map_unordered,
    parallel_stream,
)
from kagura.errors import KaguraTimeoutError, RateLimitedError

pytestmark = pytest.mark.looptime


def max_in_any_window(events: list[tuple[float, float]], period: float = 60.0) -> float:
    events = sorted(events)
    return max(
        sum(a for t, a in events[i:] if t < start + period - 1e-9) for i, (start, _) in enumerate(events)
    )


async def test_outcomes_report_value_error_attempts_and_elapsed() -> None:
    failures = {1: 2, 3: 5}  # item -> how many times it fails before succeeding

    async def call(x: int) -> int:
        await asyncio.sleep(1)
        if failures.get(x, 0) > 0:
            failures[x] -= 1
            raise RateLimitedError("429", retry_after=10)
        return x * 10

    policy = RetryPolicy(max_attempts=3, jitter=False)
    outcomes = await parallel_map_outcomes(call, range(4), max_concurrent=4, retry=policy)

    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert [o.value for o in outcomes] == [0, 10, 20, None]
    assert [o.attempts for o in outcomes] == [1, 3, 1, 3]
    assert isinstance(outcomes[3].error, RateLimitedError)
    # Each attempt takes 1 s and each Retry-After adds exactly 10 s.
    assert [o.elapsed for o in outcomes] == [
        pytest.approx(1.0),
        pytest.approx(23.0),
        pytest.approx(1.0),
        pytest.approx(23.0),
    ]
    with pytest.raises(RateLimitedError):
        outcomes[3].unwrap()
    assert outcomes[1].unwrap() == 10


async def test_parallel_map_retries_honour_retry_after() -> None:
    loop = asyncio.get_running_loop()
    starts: dict[int, list[float]] = {}

    async def call(x: int) -> int:
        starts.setdefault(x, []).append(loop.time())
        if len(starts[x]) == 1 and x % 2 == 0:
            raise RateLimitedError("429", retry_after=4.0)
        return x

    assert await parallel_map(call, range(6), max_concurrent=6, retry=RetryPolicy()) == list(range(6))
    for x in (0, 2, 4):  # retry_after is a floor; the default jitter adds at most max(4 / 2, 0.5) s
        assert starts[x][0] == 0.0 and 4.0 <= starts[x][1] <= 6.0
    assert len({starts[x][1] for x in (0, 2, 4)}) == 3  # not one synchronized retry
    assert starts[1] == [0.0]


async def test_per_item_timeout_fails_the_slow_item_as_a_kagura_timeout() -> None:
    async def call(x: int) -> int:
        await asyncio.sleep(x)
        return x

    results = await parallel_map(call, [1, 5, 2], max_concurrent=3, timeout=3, return_exceptions=True)
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], KaguraTimeoutError)
    assert asyncio.get_running_loop().time() == pytest.approx(3.0)

    with pytest.raises(KaguraTimeoutError):
        await parallel_map(call, [1, 5, 2], max_concurrent=3, timeout=3)


async def test_a_timed_out_item_is_retried() -> None:
    slow_once = {7}

    async def call(x: int) -> int:
        if x in slow_once:
            slow_once.discard(x)
            await asyncio.sleep(100)
        return x

    outcomes = await parallel_map_outcomes(
        call, [7, 8], timeout=2, retry=RetryPolicy(base_delay=1, jitter=False)
    )
    assert [(o.value, o.attempts) for o in outcomes] == [(7, 2), (8, 1)]
    assert outcomes[0].elapsed == pytest.approx(3.0)  # 2 s timeout + 1 s backoff


async def test_rpm_budget_with_concurrency_never_exceeds_the_window_and_is_saturated() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=30, clock=loop.time)
    starts: list[float] = []

    async def call(x: int) -> int:
        starts.append(loop.time())
        await asyncio.sleep(0.5)  # 8 at once x 0.5 s: concurrency alone would do 16 per second
        return x

    assert await parallel_map(call, range(120), max_concurrent=8, limiters=[limiter]) == list(range(120))
    assert max_in_any_window([(t, 1) for t in starts]) <= 30
    assert Counter(int(t // 60) for t in starts) == {0: 30, 1: 30, 2: 30, 3: 30}  # 100 % of the budget


async def test_tpm_budget_uses_the_cost_estimate_and_at_least_95_percent_of_the_budget() -> None:
    loop = asyncio.get_running_loop()
    tpm = 3000
    limiter = RateLimiter(tokens_per_minute=tpm, clock=loop.time)
    rng = random.Random(11)
    prompts = ["x" * rng.randint(4, 200) for _ in range(700)]  # cost: len // 4 tokens, 1..50
    spent: list[tuple[float, float]] = []

    async def call(prompt: str) -> int:
        spent.append((loop.time(), len(prompt) // 4))
        await asyncio.sleep(rng.uniform(0.1, 3))
        return len(prompt)

    await parallel_map_unordered(
        call, prompts, max_concurrent=10, limiters=[limiter], cost=lambda p: len(p) // 4
    )
    # A smooth rate: any 60 s hold at most a minute of tokens, plus the bucket (half a second of rate,
    # 25 tokens) and one request's overdraft (a cost above the bucket is charged in full, then paid back).
    assert limiter.token_burst == 25
    assert max_in_any_window(spent) <= tpm + 25 + 50
    full_minutes = int(max(t for t, _ in spent) // 60)
    assert full_minutes >= 4
    for minute in range(full_minutes):
        used = sum(c for t, c in spent if minute * 60 <= t < (minute + 1) * 60)
        assert used >= 0.95 * tpm, (minute, used)


async def test_one_limiter_shared_by_two_concurrent_runs_holds_one_budget() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=20, clock=loop.time)
    starts: list[float] = []

    async def call(x: int) -> int:
        starts.append(loop.time())
        return x

    await asyncio.gather(
        parallel_map(call, range(30), max_concurrent=5, limiters=[limiter]),
        parallel_map(call, range(30), max_concurrent=5, limiters=[limiter]),
    )
    assert max_in_any_window([(t, 1) for t in starts]) <= 20
    assert Counter(int(t // 60) for t in starts) == {0: 20, 1: 20, 2: 20}


async def test_progress_counts_done_total_and_failures() -> None:
    calls: list[tuple[int, int | None, int]] = []

    async def call(x: int) -> int:
        await asyncio.sleep(x % 3)
        if x % 4 == 0:
            raise ValueError(x)
        return x

    await parallel_map(
        call, range(10), max_concurrent=3, return_exceptions=True, on_progress=lambda *a: calls.append(a)
    )
    assert [c[0] for c in calls] == list(range(1, 11))
    assert {c[1] for c in calls} == {10}
    assert calls[-1] == (10, 10, 3)  # 0, 4 and 8 failed
    assert [c[2] for c in calls] == sorted(c[2] for c in calls)

    seen: list[tuple[int, int | None, int]] = []
    await parallel_map(call, (x for x in [1, 2, 3]), on_progress=lambda *a: seen.append(a))
    assert seen[-1] == (3, None, 0)  # a generator's length is unknown


async def test_stream_yields_outcomes_as_they_finish() -> None:
    loop = asyncio.get_running_loop()

    async def call(x: int) -> int:
        await asyncio.sleep(10 - x)
        return x

    arrivals: list[tuple[int, float]] = []
    async with parallel_stream(call, range(5), max_concurrent=5) as outcomes:
        async for outcome in outcomes:
            assert isinstance(outcome, Outcome) and outcome.ok
            arrivals.append((outcome.index, loop.time()))
    assert arrivals == [
        (4, pytest.approx(6.0)),
        (3, pytest.approx(7.0)),
        (2, pytest.approx(8.0)),
        (1, pytest.approx(9.0)),
        (0, pytest.approx(10.0)),
    ]


async def test_stream_fails_fast_by_default_and_yields_failures_with_return_exceptions() -> None:
    async def call(x: int) -> int:
        await asyncio.sleep(x)
        if x == 2:
            raise LookupError("two")
        return x

    got: list[int] = []
    with pytest.raises(LookupError):
        async with parallel_stream(call, range(6), max_concurrent=6) as stream:
            async for outcome in stream:
                got.append(outcome.index)
    assert got == [0, 1]

    async with parallel_stream(call, range(6), max_concurrent=6, return_exceptions=True) as stream:
        outcomes = [o async for o in stream]
    assert [o.index for o in outcomes] == [0, 1, 2, 3, 4, 5]
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True]


async def test_leaving_the_stream_block_cancels_the_work_in_flight_at_once() -> None:
    """A `break` inside `async with`: when the block exits, every in-flight call was cancelled and awaited."""
    started: list[int] = []
    cancelled: list[int] = []
    ended: list[int] = []
    four_running = asyncio.Event()

    async def call(x: int) -> int:
        started.append(x)
        if len(started) == 4:
            four_running.set()
        try:
            if x != 0:
                await asyncio.Event().wait()  # forever, unless cancelled
            else:
                await four_running.wait()
            return x
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        finally:
            ended.append(x)

    async with parallel_stream(call, range(100), max_concurrent=4) as outcomes:
        async for outcome in outcomes:
            assert outcome.value == 0
            break
        assert cancelled == []  # still running inside the block
    # No sleep, no yield to the loop: the exit itself cancelled and awaited the three calls in flight.
    assert sorted(started) == [0, 1, 2, 3, 4]  # item 0's worker took item 4 when it was done
    assert sorted(cancelled) == [1, 2, 3, 4] and sorted(ended) == [0, 1, 2, 3, 4]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_bare_async_for_still_works_but_is_deprecated() -> None:
    async def call(x: int) -> int:
        await asyncio.sleep(x)
        return x

    with pytest.warns(DeprecationWarning, match="async with"):
        values = [o.value async for o in parallel_stream(call, range(3), max_concurrent=3)]
    assert values == [0, 1, 2]

    cancelled = 0

    async def forever(x: int) -> int:
        nonlocal cancelled
        if x == 0:
            return x
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return x

    with pytest.warns(DeprecationWarning):
        async for _ in parallel_stream(forever, range(3), max_concurrent=3):
            break  # the stream object is dropped here: its work is cancelled
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert cancelled == 2
    with pytest.raises(RuntimeError, match="once"):
        stream = parallel_stream(forever, range(3))
        async with stream:
            async with stream:
                pass


async def test_a_bare_async_for_whose_caller_is_cancelled_stops_its_workers_before_it_ends() -> None:
    started = asyncio.Event()
    running: list[int] = []
    cancelled: list[int] = []

    async def forever(x: int) -> int:
        running.append(x)
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async def caller() -> None:
        with pytest.warns(DeprecationWarning):
            async for _ in parallel_stream(forever, range(10), max_concurrent=3):
                pass

    task = asyncio.create_task(caller())
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # No yield to the loop after the caller ended: its cancellation already stopped every worker.
    assert sorted(running) == [0, 1, 2] and sorted(cancelled) == [0, 1, 2]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_cost_must_return_a_token_count() -> None:
    async def call(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="token count"):
        await parallel_map(call, [1, 2], cost=lambda x: "many", return_exceptions=True)  # type: ignore[arg-type,return-value]
