"""The worker pool through its entry points: order, bounded and lazy concurrency, fail-fast, errors."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Iterator

import pytest

from kagura.core.parallel import (
    RetryPolicy,
    parallel_gather,
    parallel_map,
    parallel_map_unordered,
    parallel_stream,
)

# Virtual time everywhere: a broken pool that deadlocks hits an `asyncio.timeout` at once instead of hanging.
pytestmark = pytest.mark.looptime

# --- the seed's five ---------------------------------------------------------------------------------


async def test_parallel_gather_basic() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    assert await parallel_gather(double(1), double(2), double(3)) == [2, 4, 6]


async def test_parallel_gather_empty() -> None:
    assert await parallel_gather() == []


async def test_parallel_map_basic() -> None:
    async def square(x: int) -> int:
        return x * x

    assert await parallel_map(square, range(10), max_concurrent=3) == [x * x for x in range(10)]


async def test_parallel_map_concurrency_limit() -> None:
    in_flight = peak = 0

    async def tracked(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return x

    assert await parallel_map(tracked, range(50), max_concurrent=4) == list(range(50))
    assert peak <= 4


async def test_parallel_map_error_handling() -> None:
    async def fail_on_three(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        await parallel_map(fail_on_three, range(10), max_concurrent=2)


# --- order -------------------------------------------------------------------------------------------


async def test_input_order_and_completion_order_under_random_completion() -> None:
    rng = random.Random(3)
    delays = rng.sample(range(1, 1000), 60)  # distinct: the completion order is well defined

    async def sleepy(i: int) -> int:
        await asyncio.sleep(delays[i] / 100)
        return i

    assert await parallel_map(sleepy, range(60), max_concurrent=60) == list(range(60))
    finished = await parallel_map_unordered(sleepy, range(60), max_concurrent=60)
    assert finished == sorted(range(60), key=lambda i: delays[i])
    assert finished != list(range(60))
    assert await parallel_gather(*(sleepy(i) for i in range(60))) == list(range(60))


async def test_input_order_from_an_iterator_of_unknown_length() -> None:
    async def sleepy(i: int) -> int:
        await asyncio.sleep((i * 7919) % 13)
        return i

    assert await parallel_map(sleepy, iter(range(40)), max_concurrent=7) == list(range(40))


# --- bounded, lazy concurrency -----------------------------------------------------------------------


async def test_peak_concurrency_equals_the_limit_exactly() -> None:
    """Items wait until `limit` are in flight together: a serial pool times out, a looser one overshoots."""
    limit = 4
    in_flight = peak = 0
    all_in = asyncio.Event()

    async def item(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == limit:
            all_in.set()
        await all_in.wait()
        for _ in range(2):
            await asyncio.sleep(0)
        in_flight -= 1
        return x

    async with asyncio.timeout(10):  # virtual: a serial implementation deadlocks and fails here
        assert await parallel_map(item, range(30), max_concurrent=limit) == list(range(30))
    assert peak == limit


async def test_never_more_worker_tasks_than_max_concurrent() -> None:
    seen: list[int] = []

    async def count_tasks(x: int) -> int:
        seen.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return x

    await parallel_map(count_tasks, range(500), max_concurrent=8)
    assert max(seen) <= 8 + 1  # the workers plus this test's own task
    assert max(seen) == 9


async def test_items_are_pulled_lazily_from_an_infinite_generator() -> None:
    pulled = 0

    def naturals() -> Iterator[int]:
        nonlocal pulled
        for n in itertools.count():
            pulled += 1
            if pulled > 10_000:  # a pool that ignores the stop would loop forever: fail instead
                raise AssertionError("pulled far too many items")
            yield n

    async def identity(x: int) -> int:
        await asyncio.sleep(0)
        return x

    seen = []
    async with parallel_stream(identity, naturals(), max_concurrent=4) as outcomes:
        async for outcome in outcomes:
            seen.append(outcome.value)
            if len(seen) == 100:
                break
    assert sorted(seen) == list(range(100))
    # Pulled only as workers freed up: at most 4 in flight plus 4 finished outcomes waiting for us.
    assert 100 <= pulled <= 100 + 4 + 4


async def test_items_are_pulled_lazily_from_an_async_generator_and_failure_stops_the_pull() -> None:
    pulled = 0

    async def naturals() -> AsyncIterator[int]:
        nonlocal pulled
        for n in itertools.count():
            pulled += 1
            if pulled > 10_000:  # a pool that ignores the stop would loop forever: fail instead
                raise AssertionError("pulled far too many items")
            yield n

    class Enough(Exception):
        pass

    async def stop_at_50(x: int) -> int:
        await asyncio.sleep(0)
        if x == 50:
            raise Enough
        return x

    with pytest.raises(Enough):
        await parallel_map(stop_at_50, naturals(), max_concurrent=3)
    assert 51 <= pulled <= 51 + 3


async def test_async_iterable_results_keep_input_order() -> None:
    async def numbers() -> AsyncIterator[int]:
        for n in range(30):
            await asyncio.sleep(0)
            yield n

    async def neg(x: int) -> int:
        for _ in range(x % 4):
            await asyncio.sleep(0)
        return -x

    assert await parallel_map(neg, numbers(), max_concurrent=5) == [-n for n in range(30)]


# --- failure -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "is_async"),
    [("plain", False), ("features", False), ("plain", True), ("features", True), ("stream", False)],
)
async def test_a_failure_cancels_in_flight_siblings_and_starts_nothing_new(path: str, is_async: bool) -> None:
    started: list[int] = []
    cancelled: list[int] = []
    pulled = 0
    three_waiting = asyncio.Event()
    waiting = 0

    def source() -> Iterator[int]:
        nonlocal pulled
        for n in range(100):
            pulled += 1
            yield n

    async def async_source() -> AsyncIterator[int]:
        for n in source():
            yield n

    async def work(x: int) -> int:
        nonlocal waiting
        started.append(x)
        if x == 0:
            await three_waiting.wait()
            raise RuntimeError("boom")
        try:
            waiting += 1
            if waiting == 3:
                three_waiting.set()
            await asyncio.Event().wait()  # forever, unless cancelled
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    with pytest.raises(RuntimeError, match="boom"):
        async with asyncio.timeout(10):  # virtual: siblings left running would hang here and fail
            items = async_source() if is_async else source()
            if path == "stream":
                async with parallel_stream(work, items, max_concurrent=4) as outcomes:
                    async for _ in outcomes:
                        pass
            elif path == "features":
                await parallel_map(
                    work, items, max_concurrent=4, retry=RetryPolicy(), on_progress=lambda *a: None
                )
            else:
                await parallel_map(work, items, max_concurrent=4)
    assert sorted(started) == [0, 1, 2, 3]
    assert sorted(cancelled) == [1, 2, 3]
    assert pulled == 4  # the iterator was not advanced after the failure


async def test_parallel_gather_failure_cancels_running_and_closes_unstarted() -> None:
    cancelled: list[int] = []
    gate = asyncio.Event()

    async def wait_forever(i: int) -> int:
        try:
            gate.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    async def fail() -> int:
        await gate.wait()
        raise KeyError("nope")

    unstarted = wait_forever(99)
    with pytest.raises(KeyError):
        async with asyncio.timeout(10):
            await parallel_gather(wait_forever(1), fail(), unstarted, max_concurrent=2)
    assert cancelled == [1]
    assert unstarted.cr_frame is None  # closed, never run: no "never awaited" warning


async def test_return_exceptions_puts_errors_in_place_and_completes_the_run() -> None:
    async def odd_fails(x: int) -> int:
        await asyncio.sleep(0)
        if x % 2:
            raise ValueError(x)
        return x

    results = await parallel_map(odd_fails, range(6), max_concurrent=2, return_exceptions=True)
    assert [r if isinstance(r, int) else ("error", r.args[0]) for r in results] == [
        0,
        ("error", 1),
        2,
        ("error", 3),
        4,
        ("error", 5),
    ]
    unordered = await parallel_map_unordered(odd_fails, range(6), max_concurrent=2, return_exceptions=True)
    assert len(unordered) == 6 and sum(isinstance(r, ValueError) for r in unordered) == 3

    async def boom() -> None:
        raise OSError("disk")

    async def fine() -> str:
        return "ok"

    gathered = await parallel_gather(boom(), fine(), return_exceptions=True)
    assert isinstance(gathered[0], OSError) and gathered[1] == "ok"


# (cancelling the caller: every entry point, in test_parallel_edges.py)


# --- misuse ------------------------------------------------------------------------------------------


async def test_max_concurrent_below_one_is_a_value_error() -> None:
    async def f(x: int) -> int:
        return x

    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_concurrent"):
            await parallel_map(f, [1], max_concurrent=bad)
        with pytest.raises(ValueError, match="max_concurrent"):
            await parallel_map_unordered(f, [1], max_concurrent=bad)
        with pytest.raises(ValueError, match="max_concurrent"):
            parallel_stream(f, [1], max_concurrent=bad)
    with pytest.raises(ValueError, match="max_concurrent"):
        await parallel_gather(f(1), max_concurrent=0)


async def test_wrong_types_get_helpful_type_errors() -> None:
    async def f(x: int) -> int:
        return x

    coro = f(1)
    with pytest.raises(TypeError, match="not a coroutine"):
        await parallel_map(coro, [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        await parallel_map(f, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_concurrent"):
        await parallel_map(f, [1], max_concurrent=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryPolicy"):
        await parallel_map(f, [1], retry=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="acquire"):
        await parallel_map(f, [1], limiters=[object()])
    with pytest.raises(TypeError, match="on_progress"):
        await parallel_map(f, [1], on_progress="print")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parallel_map"):
        await parallel_gather(coro, f)  # type: ignore[arg-type]
    assert coro.cr_frame is None  # parallel_gather closed it on the way out


async def test_every_result_layout_from_generators_and_async_generators() -> None:
    """Known length, unknown length, completion order; plain path and feature path; sync and async."""

    async def maybe_fail(x: int) -> int:
        for _ in range(x % 3):
            await asyncio.sleep(0)
        if x == 4:
            raise ValueError(x)
        return x

    async def agen() -> AsyncIterator[int]:
        for n in range(9):
            yield n

    def shape(results: list[object]) -> list[object]:
        return [("err", r.args[0]) if isinstance(r, ValueError) else r for r in results]

    expected = [0, 1, 2, 3, ("err", 4), 5, 6, 7, 8]
    progress: list[int] = []
    for extra in ({}, {"on_progress": lambda done, total, failed: progress.append(done)}):
        for make in (lambda: list(range(9)), lambda: (n for n in range(9)), agen):
            ordered = await parallel_map(maybe_fail, make(), 3, return_exceptions=True, **extra)
            assert shape(ordered) == expected
            unordered = await parallel_map_unordered(maybe_fail, make(), 3, return_exceptions=True, **extra)
            assert sorted(map(str, shape(unordered))) == sorted(map(str, expected))
    assert len(progress) == 6 * 9


async def test_a_plain_function_instead_of_an_async_one_gets_a_hint() -> None:
    with pytest.raises(TypeError, match="must be an async function"):
        await parallel_map(lambda x: x + 1, [1, 2, 3])
