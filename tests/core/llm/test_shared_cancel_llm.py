"""A cancelled ``LLMClient.call`` ends cancelled, whatever await of its Redis-shared path the cancellation
lands on and whatever a library below makes of it, and sends nothing more. Against a real redis-server
and the fake server on loopback, or the in-process fake provider."""

from __future__ import annotations

import asyncio

import pytest

from kagura.core.llm import LLMClient, LLMConfig, LLMRequest, SpendCap
from kagura.errors import ServerError
from kagura.testing import FakeLLMServer, FakeProvider, RedisServer


async def test_a_cancel_at_any_step_of_a_shared_call_ends_the_task_and_sends_nothing_more(
    redis_server: RedisServer,
) -> None:
    """A worker loops over calls catching ``Exception`` (as a user's would). Cancelled after 0, 1, 2, ...
    turns of the event loop, so the cancellation lands on every await of a call in turn (the admission's
    Redis script, the provider request, the reconciliation), it must end cancelled, and no request may
    reach the server after that (but the one already on its way). Redis-py on Python 3.11 used to lose
    a cancellation arriving as a command's send finished: the worker then went on calling."""
    async with FakeLLMServer(quota_rpm=600_000) as server:
        config = LLMConfig(
            model="fake", base_url=server.base_url, api_key="sk-cancel", redis_url=redis_server.url
        )
        async with LLMClient(config) as client:
            for i in range(3):  # the answers announce the quota: the rate is learned and shared in Redis
                await client.call(f"warm {i}")
            assert client.limiter.requests_per_minute == 600_000
            ignored: list[int] = []
            for steps in range(60):

                async def worker() -> None:
                    for i in range(3):
                        try:
                            await client.call(f"q{i}")
                        except Exception:  # the point: only a CancelledError stops it
                            pass

                task = asyncio.create_task(worker())
                for _ in range(steps):
                    await asyncio.sleep(0)
                arrived = server.stats.requests
                if not task.cancel():
                    continue
                try:
                    await task
                except asyncio.CancelledError:
                    for _ in range(50):  # a request already on its way when cancelled arrives meanwhile
                        await asyncio.sleep(0)
                    assert server.stats.requests - arrived <= 1, steps
                else:
                    ignored.append(steps)
            assert ignored == []


@pytest.mark.looptime
@pytest.mark.parametrize("way", ["call", "stream"])
async def test_a_cancel_a_provider_turns_into_an_error_is_neither_retried_nor_counted(way: str) -> None:
    """A provider library that turns a cancelled read into its own retryable error (a 'connection lost'):
    the call must end cancelled after that one request, not retry it, and the worker must not go on."""
    arrived = asyncio.Event()

    async def converting(request: LLMRequest) -> str:
        arrived.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ServerError("connection lost while reading the answer") from None
        return "never"

    fake = FakeProvider(responder=converting)
    config = LLMConfig(model="m", max_attempts=5, retry_max_delay=0.1)
    async with LLMClient(config, provider=fake, adaptive=False) as client:

        async def worker() -> None:
            for i in range(3):  # like a user's loop: only a CancelledError stops it
                try:
                    if way == "call":
                        await client.call(f"q{i}")
                    else:
                        async for _ in client.stream(f"q{i}"):
                            pass
                except Exception:
                    pass

        task = asyncio.create_task(worker())
        await arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(fake.requests) == 1


async def test_a_cancel_at_any_step_of_a_shared_spend_reservation_ends_the_task(
    redis_server: RedisServer,
) -> None:
    """The spend cap shared through Redis is on every call's path too: a cancellation landing on any
    await of its reservation or settlement ends the task (the same lost cancellation as the budget's)."""
    cap = SpendCap(1_000_000.0, redis=redis_server.url, key="test:spend-cancel")
    await cap.reserve(0.01)  # connected, script loaded
    ignored: list[int] = []
    for steps in range(40):

        async def reservations() -> None:
            for _ in range(3):  # like a worker that catches everything but cancellation
                try:
                    await cap.reserve(0.01)
                    await cap.settle(0.01, 0.005)
                except Exception:  # the point: only a CancelledError stops it
                    pass

        task = asyncio.create_task(reservations())
        for _ in range(steps):
            await asyncio.sleep(0)
        if not task.cancel():
            continue
        try:
            await task
        except asyncio.CancelledError:
            continue
        ignored.append(steps)
    await cap.aclose()
    assert ignored == []


@pytest.mark.looptime
async def test_a_coalesced_call_stops_when_its_last_caller_is_cancelled() -> None:
    """Identical concurrent calls share one request: one caller leaving keeps it going for the other,
    but when every caller has been cancelled nobody wants the answer and the request stops too (it used
    to run on, retries included, after its callers were gone)."""
    arrived = asyncio.Event()
    stopped: list[str] = []

    async def slow(request: LLMRequest) -> str:
        arrived.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stopped.append(request.prompt)
            raise
        return "late"

    fake = FakeProvider(responder=slow)
    async with LLMClient(LLMConfig(model="m", coalesce=True), provider=fake, adaptive=False) as client:
        first = asyncio.create_task(client.call("same"))
        second = asyncio.create_task(client.call("same"))
        await arrived.wait()
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await asyncio.sleep(1)
        assert stopped == [] and not second.done()  # still wanted by the second caller
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        await asyncio.sleep(0)
        assert stopped == ["same"]
        assert len(fake.requests) == 1
