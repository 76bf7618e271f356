"""Edges of the pool: an item's own CancelledError, workers started lazily, stream order, bad numbers."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kagura.core.parallel import (
    RetryPolicy,
    parallel_gather,
    parallel_map,
    parallel_map_outcomes,
    parallel_map_unordered,
    parallel_stream,
)

pytestmark = pytest.mark.looptime

# --- an item's own CancelledError is its failure, never a silent hole ---------------------------------


async def cancelled_elsewhere() -> None:
    """Await a future that another component cancelled: raises CancelledError in a task nobody cancels."""
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.cancel)
    await future


def behaviour(kinds: list[str], delays: list[int]) -> Callable[[int], Coroutine[Any, Any, int]]:
    async def call(x: int) -> int:
        await asyncio.sleep(delays[x])
        if kinds[x] == "cancel":
            await cancelled_elsewhere()
        elif kinds[x] == "fail":
            raise ValueError(x)
        return x * 10

    return call


def shape(results: list[Any]) -> list[Any]:
    return [type(r).__name__ if isinstance(r, BaseException) else r for r in results]


async def outcome(awaitable: Awaitable[Any]) -> tuple[str, Any]:
    """("ok", value) or ("raised", exception type name); the caller must not be left cancelling."""
    try:
        value = await awaitable
    except (Exception, asyncio.CancelledError) as exc:
        result: tuple[str, Any] = ("raised", type(exc).__name__)
    else:
        result = ("ok", value)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # a real cancellation of the caller it is not
    return result


async def agen(n: int) -> AsyncIterator[int]:
    for x in range(n):
        yield x


async def stream_values(call: Callable[[int], Awaitable[int]], n: int, return_exceptions: bool) -> list[Any]:
    """parallel_stream's outcomes as a parallel_map-like list in input order."""
    results: list[Any] = [None] * n
    async with parallel_stream(call, range(n), max_concurrent=n, return_exceptions=return_exceptions) as s:
        async for o in s:
            results[o.index] = o.error if o.error is not None else o.value
    return results


KINDS = st.lists(st.sampled_from(["ok", "ok", "cancel", "fail"]), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
async def test_differential_against_asyncio_gather(data: st.DataObject) -> None:
    """Every entry point agrees with asyncio.gather on items that raise their own CancelledError."""
    kinds = data.draw(KINDS)
    delays = data.draw(st.permutations(range(len(kinds))))  # distinct finishing times: a definite order
    call = behaviour(kinds, delays)
    n = len(kinds)
    for return_exceptions in (False, True):
        expected = await outcome(
            asyncio.gather(*(call(x) for x in range(n)), return_exceptions=return_exceptions)
        )
        if expected[0] == "ok":
            expected = ("ok", shape(expected[1]))
        knobs: dict[str, Any] = {"return_exceptions": return_exceptions}
        runs: dict[str, Awaitable[Any]] = {
            "map": parallel_map(call, range(n), n, **knobs),
            "map/generator": parallel_map(call, (x for x in range(n)), n, **knobs),
            "map/async": parallel_map(call, agen(n), n, **knobs),
            "map/features": parallel_map(call, range(n), n, on_progress=lambda *a: None, **knobs),
            "map/retry": parallel_map(call, agen(n), n, retry=RetryPolicy(max_attempts=1), **knobs),
            "gather": parallel_gather(*(call(x) for x in range(n)), **knobs),
            "stream": stream_values(call, n, return_exceptions),
        }
        for name, run in runs.items():
            got = await outcome(run)
            if got[0] == "ok":
                got = ("ok", shape(got[1]))
            assert got == expected, (name, return_exceptions, kinds)
        unordered = await outcome(parallel_map_unordered(call, range(n), n, **knobs))
        if expected[0] == "ok":
            assert unordered[0] == "ok" and sorted(map(str, shape(unordered[1]))) == sorted(
                map(str, expected[1])
            )
        else:
            assert unordered == expected


async def test_the_examples_of_the_issue_are_errors_not_holes() -> None:
    call = behaviour(["ok", "ok", "cancel", "ok", "ok"], [0, 1, 2, 3, 4])
    with pytest.raises(asyncio.CancelledError):
        await parallel_map(call, range(5), 3)  # was [0, 10, None, 30, 40]
    unordered = await parallel_map_unordered(call, range(5), 3, return_exceptions=True)
    assert len(unordered) == 5  # was 4 items
    outcomes = await parallel_map_outcomes(call, range(5), 3)
    assert [o.ok for o in outcomes] == [True, True, False, True, True]
    assert isinstance(outcomes[2].error, asyncio.CancelledError) and outcomes[2].attempts == 1
    seen: list[int] = []
    with pytest.raises(asyncio.CancelledError):
        async with parallel_stream(call, range(5), 3) as stream:  # ended early, silently
            async for o in stream:
                seen.append(o.index)
    assert seen == [0, 1]
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["plain", "features", "async", "stream", "gather"])
async def test_a_real_cancellation_of_the_caller_still_cancels_everything(path: str) -> None:
    cancelled = 0
    running = 0
    all_running = asyncio.Event()

    async def forever(x: int) -> None:
        nonlocal cancelled, running
        running += 1
        if running == 5:
            all_running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise

    async def consume() -> None:
        async with parallel_stream(forever, range(20), max_concurrent=5) as stream:
            async for _ in stream:
                pass

    runs: dict[str, Callable[[], Awaitable[Any]]] = {
        "plain": lambda: parallel_map(forever, range(20), max_concurrent=5),
        "features": lambda: parallel_map(forever, range(20), max_concurrent=5, on_progress=lambda *a: None),
        "async": lambda: parallel_map(forever, agen(20), max_concurrent=5),
        "stream": consume,
        "gather": lambda: parallel_gather(*(forever(x) for x in range(5))),
    }
    run = asyncio.ensure_future(runs[path]())
    async with asyncio.timeout(10):
        await all_running.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert run.cancelled()
    assert cancelled == 5
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_worker_cancelled_from_outside_is_not_a_silent_hole() -> None:
    async def cancels_its_own_task(x: int) -> int:
        await asyncio.sleep(x)
        if x == 1:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # someone cancels the worker itself, not the caller
            await asyncio.sleep(1)
        return x

    with pytest.raises(asyncio.CancelledError):
        await parallel_map(cancels_its_own_task, range(3), 3, return_exceptions=True)  # was [0, None, 2]
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


# --- workers are started only for items pulled ---------------------------------------------------------


def counting_tasks(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Install a task factory that counts the tasks created on ``loop``; returns the live counter."""
    created = [0]

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        created[0] += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    return created


@pytest.mark.parametrize("limit", [10_000, 3_000_000])  # the old pool: 10,000 tasks; 28 s and 2.9 GB
@pytest.mark.parametrize("path", ["plain", "features", "async", "async-plain", "unordered", "stream"])
async def test_a_huge_max_concurrent_over_ten_unsized_items_starts_ten_workers(path: str, limit: int) -> None:
    loop = asyncio.get_running_loop()
    in_flight = peak = 0
    all_ten = asyncio.Event()

    async def call(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 10:
            all_ten.set()
        await all_ten.wait()  # all ten must run at once, or this never returns
        in_flight -= 1
        return x

    async def stream() -> list[int]:
        async with parallel_stream(call, (x for x in range(10)), max_concurrent=limit) as outcomes:
            return sorted([o.value async for o in outcomes if o.value is not None])

    runs: dict[str, Callable[[], Awaitable[list[int]]]] = {
        "plain": lambda: parallel_map(call, (x for x in range(10)), max_concurrent=limit),
        "features": lambda: parallel_map(
            call, (x for x in range(10)), max_concurrent=limit, on_progress=lambda *a: None
        ),
        "async": lambda: parallel_map(call, agen(10), max_concurrent=limit, on_progress=lambda *a: None),
        "async-plain": lambda: parallel_map(call, agen(10), max_concurrent=limit),
        "unordered": lambda: parallel_map_unordered(call, (x for x in range(10)), max_concurrent=limit),
        "stream": stream,
    }
    created = counting_tasks(loop)
    try:
        async with asyncio.timeout(10):
            results = await runs[path]()
    finally:
        loop.set_task_factory(None)
    assert sorted(results) == list(range(10))
    assert peak == 10
    assert created[0] <= 10 + (1 if path == "stream" else 0)  # one worker per item (+ the stream's producer)


async def test_workers_grow_with_the_items_pulled_and_never_pass_max_concurrent() -> None:
    loop = asyncio.get_running_loop()
    created = counting_tasks(loop)
    in_flight = peak = 0

    async def call(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(1)
        in_flight -= 1
        return x

    try:
        assert await parallel_map(call, (x for x in range(50)), max_concurrent=7) == list(range(50))
    finally:
        loop.set_task_factory(None)
    assert peak == 7 and created[0] == 7


# --- parallel_stream delivers in completion order -----------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    delays=st.lists(st.integers(0, 3), min_size=1, max_size=12),
    reads=st.lists(st.integers(0, 3), min_size=12, max_size=12),
    workers=st.integers(1, 4),
)
async def test_a_slow_consumer_sees_outcomes_in_completion_order(
    delays: list[int], reads: list[int], workers: int
) -> None:
    finished: list[int] = []

    async def call(x: int) -> int:
        await asyncio.sleep(delays[x])
        finished.append(x)
        return x

    got: list[int] = []
    async with parallel_stream(call, range(len(delays)), max_concurrent=workers) as outcomes:
        async for o in outcomes:
            got.append(o.index)
            await asyncio.sleep(reads[len(got) - 1])  # a consumer slower than the workers fills the buffer
    assert got == finished


# --- numbers that would hang later are refused at once ----------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0])
async def test_bad_timeouts_are_value_errors(bad: float) -> None:
    async def f(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="timeout"):
        await parallel_map(f, [1], timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        parallel_stream(f, [1], timeout=bad)
    with pytest.raises(TypeError, match="timeout"):
        await parallel_map(f, [1], timeout=True)  # type: ignore[arg-type]


async def _numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@pytest.mark.parametrize("entry", ["map", "unordered", "outcomes", "map_async_source"])
async def test_a_cancel_an_item_turns_into_an_error_stops_the_run(entry: str) -> None:
    """An item whose library turns the cancellation into an error (a 'connection lost'): the worker was
    asked to stop, so collecting that error as the item's failure and starting the next item would keep a
    cancelled run going through its whole input. The run ends cancelled; no further item starts."""
    started: list[int] = []
    two_running = asyncio.Event()

    async def converting(i: int) -> int:
        started.append(i)
        if len(started) == 2:
            two_running.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ConnectionError("connection lost while reading") from None
        return i

    runs: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "map": lambda: parallel_map(converting, range(10), 2, return_exceptions=True),
        "unordered": lambda: parallel_map_unordered(converting, range(10), 2, return_exceptions=True),
        "outcomes": lambda: parallel_map_outcomes(converting, range(10), 2),
        "map_async_source": lambda: parallel_map(converting, _numbers(10), 2, return_exceptions=True),
    }
    run = asyncio.create_task(runs[entry]())
    await two_running.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sorted(started) == [0, 1]
