"""A budget shared through Redis stays within itself, summed over every process, through Redis faults.

Three limiters on one key stand for three processes (each has its own Redis client and member id, so
each counts as a member and falls back to its own share). Workers start calls as fast as their limiter
admits while a seeded random fault hits a real redis-server: a pause (SIGSTOP) longer than the client's
socket timeout (an outage with the connections left open), a short pause (slow replies), or a kill -9
with a restart (an empty Redis). The property: in every window, all starts together stay within the
budget's rate plus one burst; and every process is back on Redis soon after the fault ends.

Times are the real clock (the budget lives in a separate server process), so the windows are counted
with slack for timer jitter: a start is stamped when its worker resumes, which a loaded event loop may
delay by up to ~0.1 s (two requests at this rate) at either edge of a window; the bound itself is the
budget's.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import time

import pytest

from kagura.core.parallel import RateLimiter
from kagura.testing import RedisServer

RPM = 1200.0  # 20 per second
BURST = 10.0
PROCESSES = 3
WORKERS = 6  # per process: always someone waiting for the budget
JITTER = 4  # requests: ~0.1 s of the rate at each edge of a window (see the module docstring)
CAP = 1.0  # the reconnect backoff's cap in this test (the default is 4 s): keeps the test short


def _worst_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    return max(bisect.bisect_left(starts, t + window) - i for i, t in enumerate(starts))


async def _fault(server: RedisServer, kind: str, duration: float) -> None:
    if kind == "kill":
        server.kill()
        await asyncio.sleep(duration)
        await asyncio.to_thread(server.restart)
    else:  # "pause" (an outage: longer than the socket timeout) or "slow" (replies late, no error)
        server.pause()
        try:
            await asyncio.sleep(duration)
        finally:
            server.resume()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_all_processes_together_stay_within_the_budget_through_a_fault(
    seed: int, own_redis_server: RedisServer
) -> None:
    rng = random.Random(seed)
    kind = rng.choice(["kill", "pause", "slow"]) if seed > 2 else ["kill", "pause"][seed - 1]
    duration = {"kill": rng.uniform(1.0, 3.0), "pause": rng.uniform(2.5, 3.5), "slow": rng.uniform(0.3, 1.0)}[
        kind
    ]
    fault_at = rng.uniform(1.0, 2.0)
    limiters = [
        RateLimiter(RPM, burst=BURST, redis=own_redis_server.url, key=f"faults:{seed}")
        for _ in range(PROCESSES)
    ]
    for limiter in limiters:
        assert limiter.shared is not None
        limiter.shared.backoff_cap = CAP
        limiter.shared.handover = 2 * CAP + 1.0
    starts: list[float] = []
    end = time.monotonic() + fault_at + duration + CAP + limiters[0].shared.handover + 2.0  # type: ignore[union-attr]

    async def worker(limiter: RateLimiter) -> None:
        while time.monotonic() < end:
            await limiter.acquire()
            starts.append(time.monotonic())

    async def inject() -> None:
        await asyncio.sleep(fault_at)
        await _fault(own_redis_server, kind, duration)

    await asyncio.gather(inject(), *(worker(lim) for lim in limiters for _ in range(WORKERS)))
    for window in (1.0, 2.0):
        bound = RPM / 60 * window + BURST + JITTER
        assert _worst_window(starts, window) <= bound, (kind, duration, window)
    for limiter in limiters:  # recovery is prompt for every process, not only the first one back
        assert limiter.shared is not None and not limiter.shared.degraded
        await limiter.shared.close()
