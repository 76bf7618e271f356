"""The polling schedule (pure) and wait_until_ended on a virtual clock against the fake server."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from kagura.core.llm.batches import BatchRequest, ChunkTag, OpenAIBatchBackend, PollSchedule, wait_until_ended
from kagura.errors import KaguraTimeoutError, ServerError
from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer, ManualClock


def _times(schedule: PollSchedule, polls: int) -> list[float]:
    at, times = 0.0, [0.0]
    for attempt in range(polls - 1):
        at += schedule.delay(attempt, at)
        times.append(at)
    return times


def test_schedule_backs_off_and_keeps_10_s_apart_after_the_first_minute() -> None:
    schedule = PollSchedule()
    times = _times(schedule, 400)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] == schedule.first and gaps == sorted(gaps)  # grows, never shrinks
    assert all(b - a >= 10.0 for a, b in itertools.pairwise(times) if b >= 60.0)
    assert max(gaps) == schedule.max_delay
    eager = PollSchedule(first=1.0, factor=1.0, max_delay=30.0)  # 1 s polls, then the 10 s floor
    eager_times = _times(eager, 100)
    assert sum(t < 60 for t in eager_times) == 60
    assert all(b - a == 10.0 for a, b in itertools.pairwise(eager_times) if b >= 60.0)
    with pytest.raises(ValueError, match="factor"):
        PollSchedule(factor=0.5)


async def test_wait_until_ended_polls_a_batch_at_most_once_per_10_s_after_a_minute() -> None:
    clock = ManualClock()

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    timings = BatchTimings(validating=30, in_progress=3600, finalizing=60)
    async with FakeLLMServer(batches=BatchSettings(timings, clock=clock)) as server:
        backend = OpenAIBatchBackend(server.base_url, "k")
        request = BatchRequest("a", {"model": "fake", "messages": [{"role": "user", "content": "hi"}]})
        handle = await backend.submit([request], ChunkTag("job", 0))
        statuses: list[str] = []
        status = await wait_until_ended(
            backend,
            handle,
            sleep=sleep,
            clock=clock,
            schedule=PollSchedule(first=1.0, factor=1.2),
            on_status=lambda s: statuses.append(s.provider_status),
        )
        assert status.ended and status.provider_status == "completed" and status.succeeded == 1
        assert statuses[0] == "validating" and "in_progress" in statuses and "finalizing" in statuses
        polls = [at for route, at in server.batches.requests if route == "batches.retrieve"]
        start = polls[0]
        late = [at for at in polls if at - start >= 60]
        assert all(b - a >= 10 for a, b in itertools.pairwise(late))
        assert len(polls) < 3690 / 10 + 60  # far fewer than one per second
        # the fake counted each poll: the clock only moved through sleep()
        assert polls == sorted(polls)
        await backend.aclose()


async def test_wait_until_ended_rides_out_server_errors_and_can_give_up() -> None:
    clock = ManualClock()

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    async with FakeLLMServer(batches=BatchSettings(BatchTimings(in_progress=100), clock=clock)) as server:
        backend = OpenAIBatchBackend(server.base_url, "k")
        request = BatchRequest("a", {"model": "fake", "messages": [{"role": "user", "content": "hi"}]})
        handle = await backend.submit([request], ChunkTag("job", 0))
        held = server.batches.hold("batches.retrieve")  # the first poll fails with 503
        held.released.set()
        status = await wait_until_ended(backend, handle, sleep=sleep, clock=clock)
        assert status.ended
        second = await backend.submit([request], ChunkTag("job", 1))
        with pytest.raises(KaguraTimeoutError, match="did not end within 30 s"):
            await wait_until_ended(backend, second, sleep=sleep, clock=clock, give_up_after=30)
        await backend.aclose()


@pytest.mark.looptime
async def test_a_batch_of_an_hour_on_the_loops_virtual_clock() -> None:
    loop = asyncio.get_running_loop()
    settings = BatchSettings(BatchTimings(validating=20, in_progress=3600, finalizing=30), clock=loop.time)
    async with FakeLLMServer(batches=settings) as server:
        backend = OpenAIBatchBackend(server.base_url, "k")
        request = BatchRequest("a", {"model": "fake", "messages": [{"role": "user", "content": "hi"}]})
        handle = await backend.submit([request], ChunkTag("job", 0))
        status = await wait_until_ended(backend, handle)  # asyncio.sleep and the loop's clock: virtual
        assert status.provider_status == "completed" and loop.time() >= 3650
        polls = [at for route, at in server.batches.requests if route == "batches.retrieve"]
        late = [at for at in polls if at - polls[0] >= 60]
        assert all(b - a >= 10 for a, b in itertools.pairwise(late))
        assert len(polls) <= 3650 / 60 + 20  # the default schedule settles at one poll a minute
        await backend.aclose()


@pytest.mark.looptime
async def test_polling_stops_when_a_cancellation_comes_back_as_a_dropped_connection() -> None:
    """An SDK that turns a cancelled poll into its own 'connection lost' (retryable): the task was asked
    to stop, so the poller must end cancelled instead of waiting the error out and polling on."""
    polls = 0
    polling = asyncio.Event()

    class ConvertingBackend:
        async def poll(self, handle: object) -> object:
            nonlocal polls
            polls += 1
            polling.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                raise ServerError("connection lost while reading") from None
            raise AssertionError("never answers")

    class Handle:
        batch_id = "batch_1"

    task = asyncio.create_task(wait_until_ended(ConvertingBackend(), Handle()))  # type: ignore[arg-type]
    await polling.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert polls == 1
