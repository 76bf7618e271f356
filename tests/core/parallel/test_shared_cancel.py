"""A cancelled task never outlives its cancellation inside a Redis-shared admission, and cancelled shared
bookings give their slots back. Against a real redis-server."""

from __future__ import annotations

import asyncio

from kagura.core.parallel import RateLimiter
from kagura.testing import RedisServer


async def _cancel_after(steps: int, work: asyncio.Task[int]) -> bool:
    """Let the loop turn ``steps`` times, then cancel ``work``; True if it ignored the cancellation."""
    for _ in range(steps):
        await asyncio.sleep(0)
    if not work.cancel():
        return False  # already finished: nothing to cancel
    try:
        await work
    except asyncio.CancelledError:
        return False
    return True


async def test_a_cancel_at_any_step_of_a_shared_admission_ends_the_task(redis_server: RedisServer) -> None:
    """Cancel a loop of admissions after 0, 1, 2, ... turns of the event loop, so the cancellation lands
    on every await of an admission in turn (the connection, the script's send, its reply). The task must
    end cancelled every time. On Python 3.11 redis-py's ``wait_for`` around a command's send used to
    lose a cancellation that arrived just as the send finished: the admission returned as if nothing
    happened, and a caller looping over ``except Exception`` went on for ever."""
    limiter = RateLimiter(requests_per_minute=600_000, redis=redis_server.url, key="test:cancel-steps")
    await limiter.acquire()  # connected, script loaded: every later step is the same each time
    ignored: list[int] = []
    for steps in range(60):

        async def admissions() -> int:
            done = 0
            for _ in range(4):  # like a worker that catches everything but cancellation
                try:
                    await limiter.acquire()
                except Exception:  # noqa: BLE001 - the point: only a CancelledError stops it
                    pass
                done += 1
            return done

        if await _cancel_after(steps, asyncio.create_task(admissions())):
            ignored.append(steps)
    assert limiter.shared is not None
    await limiter.shared.close()
    assert ignored == []
