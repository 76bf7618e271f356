"""A cancelled ``LLMClient.call`` ends cancelled, whatever await of its Redis-shared path the cancellation
lands on, and sends nothing more. Against a real redis-server and the fake server on loopback."""

from __future__ import annotations

import asyncio

from kagura.core.llm import LLMClient, LLMConfig
from kagura.testing import FakeLLMServer, RedisServer


async def test_a_cancel_at_any_step_of_a_shared_call_ends_the_task_and_sends_nothing_more(
    redis_server: RedisServer,
) -> None:
    """A worker loops over calls catching ``Exception`` (as a user's would). Cancelled after 0, 1, 2, ...
    turns of the event loop, so the cancellation lands on every await of a call in turn (the admission's
    Redis script, the provider request, the reconciliation), it must end cancelled, and no request may
    reach the server after that (but the one already on its way). Redis-py on Python 3.11 used to lose a cancellation arriving as a
    command's send finished: the worker then went on calling."""
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
