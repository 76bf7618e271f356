"""RetryPolicy and call_with_retry: backoff, Retry-After and timeouts, in virtual time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from kagura.core.parallel import RateLimiter, RetryPolicy, call_with_retry, parallel_map
from kagura.errors import AuthenticationError, KaguraTimeoutError, RateLimitedError, ServerError


class Flaky:
    """Fails with the given errors in turn, then returns "ok"; records when each attempt started."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.starts: list[float] = []

    async def __call__(self) -> str:
        self.starts.append(asyncio.get_running_loop().time())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.looptime
async def test_retry_after_is_honoured_exactly_without_jitter() -> None:
    flaky = Flaky(RateLimitedError("slow down", retry_after=7.0), RateLimitedError("again", retry_after=2.5))
    policy = RetryPolicy(max_attempts=3, base_delay=100.0, jitter=False)  # backoff would be far longer

    assert await call_with_retry(flaky, policy) == "ok"
    assert flaky.starts == [0.0, pytest.approx(7.0), pytest.approx(9.5)]


def test_retry_after_is_a_floor_plus_a_bounded_jitter() -> None:
    """The wait is retry_after + U(0, min(max_delay, max(retry_after / 2, base_delay)))."""
    error = RateLimitedError("429", retry_after=8.0)
    draws = [RetryPolicy(base_delay=0.5).delay(1, error) for _ in range(500)]
    assert all(8.0 <= d <= 12.0 for d in draws)
    assert len(set(draws)) > 400 and max(draws) > 11.5 and min(draws) < 8.5  # spread over the whole range
    assert all(
        0.0 <= RetryPolicy(base_delay=2.0).delay(1, RateLimitedError("429", retry_after=0)) <= 2.0
        for _ in range(50)
    )
    capped = [
        RetryPolicy(max_delay=1.0).delay(1, RateLimitedError("429", retry_after=100)) for _ in range(50)
    ]
    assert all(100.0 <= d <= 101.0 for d in capped)


@pytest.mark.looptime
async def test_retry_after_beyond_the_cap_fails_at_once_instead_of_stalling() -> None:
    flaky = Flaky(RateLimitedError("daily quota exhausted", retry_after=86_400.0))
    policy = RetryPolicy(max_attempts=3, max_retry_after=300.0)

    with pytest.raises(RateLimitedError, match="daily quota"):
        await call_with_retry(flaky, policy)
    assert flaky.starts == [0.0]  # one attempt, no day-long sleep


@pytest.mark.looptime
async def test_retry_after_cap_can_be_lifted() -> None:
    flaky = Flaky(RateLimitedError("later", retry_after=3_600.0))

    assert await call_with_retry(flaky, RetryPolicy(max_retry_after=None, jitter=False)) == "ok"
    assert flaky.starts == [0.0, pytest.approx(3_600.0)]


@pytest.mark.looptime
async def test_exponential_backoff_is_capped() -> None:
    flaky = Flaky(ServerError("503"), ServerError("503"), ServerError("503"), ServerError("503"))
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=3.0, jitter=False)

    assert await call_with_retry(flaky, policy) == "ok"
    gaps = [b - a for a, b in zip(flaky.starts, flaky.starts[1:], strict=False)]
    assert gaps == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0), pytest.approx(3.0)]


def test_full_jitter_draws_below_the_capped_backoff() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=True)
    draws = [policy.delay(4) for _ in range(500)]  # uncapped would be 8 s
    assert all(0.0 <= d <= 5.0 for d in draws)
    assert len(set(draws)) > 400  # spread, not a constant
    assert max(draws) > 4.0 and min(draws) < 1.0


@pytest.mark.looptime
async def test_attempts_run_out_and_the_last_error_is_raised() -> None:
    flaky = Flaky(ServerError("first"), ServerError("second"), ServerError("third"))
    with pytest.raises(ServerError, match="second"):
        await call_with_retry(flaky, RetryPolicy(max_attempts=2, base_delay=0.1))
    assert len(flaky.starts) == 2


async def test_errors_that_are_not_retryable_fail_at_once() -> None:
    flaky = Flaky(AuthenticationError("bad key"))
    with pytest.raises(AuthenticationError):
        await call_with_retry(flaky, RetryPolicy(max_attempts=5))
    assert len(flaky.starts) == 1


@pytest.mark.looptime
async def test_retry_on_adds_the_callers_own_errors() -> None:
    flaky = Flaky(ConnectionResetError("reset"))
    assert await call_with_retry(flaky, RetryPolicy(retry_on=(ConnectionResetError,), base_delay=0.1)) == "ok"
    assert len(flaky.starts) == 2


@pytest.mark.looptime
async def test_a_timed_out_attempt_is_a_retryable_kagura_timeout() -> None:
    loop = asyncio.get_running_loop()
    durations = [10.0, 0.5]
    starts: list[float] = []

    async def slow_then_fast() -> str:
        starts.append(loop.time())
        await asyncio.sleep(durations.pop(0))
        return "done"

    result = await call_with_retry(slow_then_fast, RetryPolicy(base_delay=2.0, jitter=False), timeout=1.0)
    assert result == "done"
    assert starts == [0.0, pytest.approx(3.0)]  # 1 s timeout, then a 2 s backoff
    assert loop.time() == pytest.approx(3.5)


@pytest.mark.looptime
async def test_timeout_without_retries_raises_kagura_timeout_error() -> None:
    async def forever() -> None:
        await asyncio.sleep(3600)

    with pytest.raises(KaguraTimeoutError) as info:
        await call_with_retry(forever, RetryPolicy(max_attempts=1), timeout=2.0)
    assert isinstance(info.value, TimeoutError)
    assert asyncio.get_running_loop().time() == pytest.approx(2.0)


async def test_the_callees_own_timeout_error_is_not_relabelled() -> None:
    async def raises_builtin_timeout() -> None:
        raise TimeoutError("from the callee")

    with pytest.raises(TimeoutError, match="from the callee") as info:
        await call_with_retry(raises_builtin_timeout, RetryPolicy(max_attempts=1), timeout=5.0)
    assert not isinstance(info.value, KaguraTimeoutError)


@pytest.mark.looptime
async def test_each_attempt_acquires_the_limiters() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=1, clock=loop.time)
    flaky = Flaky(ServerError("503"))
    await call_with_retry(flaky, RetryPolicy(base_delay=0.0), limiters=[limiter], tokens=0)
    assert flaky.starts == [0.0, pytest.approx(60.0)]  # the retry is a second request: next minute


def test_bad_policies_and_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(TypeError, match="max_attempts"):
        RetryPolicy(max_attempts=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="base_delay"):
        RetryPolicy(base_delay=-1)
    with pytest.raises(TypeError, match="retry_on"):
        RetryPolicy(retry_on=("ServerError",))  # type: ignore[arg-type]
    assert RetryPolicy(retry_on=ValueError).retry_on == (ValueError,)  # type: ignore[arg-type]
    for name in ("base_delay", "max_delay", "max_retry_after"):
        for bad in (float("nan"), float("inf"), -1.0):
            with pytest.raises(ValueError, match=name):
                RetryPolicy(**{name: bad})
        with pytest.raises(TypeError, match=name):
            RetryPolicy(**{name: True})


async def test_call_with_retry_rejects_a_coroutine_object() -> None:
    async def f() -> int:
        return 1

    coro = f()
    with pytest.raises(TypeError, match="lambda"):
        await call_with_retry(coro)  # type: ignore[arg-type]
    coro.close()
    with pytest.raises(TypeError, match="RetryPolicy"):
        await call_with_retry(f, policy=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        await call_with_retry(f, timeout=0)


def rejected_once(starts: dict[int, list[float]], retry_after: float) -> Callable[[int], Awaitable[int]]:
    """A call answered 429 (with ``retry_after``) on its first attempt; records every attempt's start."""

    async def call(x: int) -> int:
        starts.setdefault(x, []).append(asyncio.get_running_loop().time())
        if len(starts[x]) == 1:
            raise RateLimitedError("429", retry_after=retry_after)
        return x

    return call


@pytest.mark.looptime
async def test_simultaneous_429s_retry_spread_out_after_the_floor_and_through_the_limiter() -> None:
    """60 calls rejected at once with the same Retry-After: no retry before it, no synchronized burst,
    and every attempt (first or retry) admitted by the limiter within its bucket."""
    random.seed(20261130)
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=1200, burst=60, clock=loop.time)  # 20/s, 60 at once
    starts: dict[int, list[float]] = {}
    call = rejected_once(starts, retry_after=2.0)
    results = await parallel_map(call, range(60), max_concurrent=60, retry=RetryPolicy(), limiters=[limiter])
    assert results == list(range(60))
    assert all(first == 0.0 for first, _ in starts.values())  # all rejected together
    retries = sorted(retry for _, retry in starts.values())
    assert retries[0] >= 2.0  # Retry-After is a floor
    assert retries[-1] - retries[0] >= 0.5  # spread over [2, 3] s, not one instant
    assert max(sum(1 for t in retries if a <= t < a + 0.1) for a in retries) <= 12  # no stampede
    everything = sorted(t for attempts in starts.values() for t in attempts)
    for i, a in enumerate(everything):  # the bucket: at most 60 + 20 per second of span
        for j in range(i, len(everything)):
            assert j - i + 1 <= 60 + 20 * (everything[j] - a) + 1e-6


@pytest.mark.looptime
async def test_retries_wait_for_the_limiter_when_it_binds() -> None:
    """With a small bucket the limiter, not Retry-After, sets the pace of re-admission."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(requests_per_minute=60, burst=10, clock=loop.time)  # 1/s
    starts: dict[int, list[float]] = {}
    call = rejected_once(starts, retry_after=0.5)
    await parallel_map(call, range(10), max_concurrent=10, retry=RetryPolicy(), limiters=[limiter])
    everything = sorted(t for attempts in starts.values() for t in attempts)
    assert everything[:10] == [0.0] * 10  # the burst
    assert everything[10:] == pytest.approx([float(k) for k in range(1, 11)])  # retries at the rate
    assert all(retry >= first + 0.5 for first, retry in starts.values())


@pytest.mark.looptime
async def test_a_cancellation_turned_into_an_error_below_is_never_retried() -> None:
    """Libraries turn a cancelled read into their own error (redis-py's ConnectionError, say). The task
    was asked to stop: the retry loop must end it cancelled, not retry the 'outage' and carry on."""
    attempts = 0
    started = asyncio.Event()

    async def converting() -> None:
        nonlocal attempts
        attempts += 1
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ServerError("connection lost while reading") from None

    policy = RetryPolicy(max_attempts=5, base_delay=0.1, jitter=False)
    task = asyncio.create_task(call_with_retry(converting, policy))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert attempts == 1
