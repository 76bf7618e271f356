"""Adaptive control when 429s do not depend on the rate (capacity refusals) and when they do (a quota).

The first tests drive a controller and its limiter on a hand-moved clock against a simulated provider;
the last one runs the README's ``parallel_map`` over the fake server on looptime's virtual clock.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable

import pytest

from kagura.core.llm import AdaptiveController, LLMClient, LLMConfig
from kagura.core.parallel import RateLimiter, parallel_map
from kagura.errors import RateLimitedError
from kagura.testing import FakeLLMServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _simulate(
    refuse: Callable[[int, float], bool], *, seconds: float, ceiling: float | None, latency: float = 0.2
) -> tuple[AdaptiveController, list[tuple[float, bool]]]:
    """Send as fast as the controller's limiter allows for ``seconds``; ``refuse(n, t)`` decides each 429.

    Returns the controller and every (start time, refused) in order. Outcomes come back ``latency``
    later; up to 20 calls are in flight (the README's ``max_concurrent=20``).
    """
    clock = Clock()
    limiter = RateLimiter(ceiling, clock=clock)
    controller = AdaptiveController(limiter, ceiling_rpm=ceiling, clock=clock)
    start, sent = clock.now, []
    in_flight: list[tuple[float, float, bool]] = []  # (answer time, start, refused)
    n = 0
    while clock.now - start < seconds:
        if len(in_flight) >= 20 or (in_flight and in_flight[0][0] <= limiter.wait_time() + clock.now):
            answer, began, refused = in_flight.pop(0)
            clock.now = max(clock.now, answer)
            if refused:
                controller.on_failure(RateLimitedError("429", retry_after=0.0), started=began)
            else:
                controller.on_success(None, started=began)
            continue
        at = limiter.reserve()
        clock.now = max(clock.now, at) if at - clock.now < 60 else clock.now + 60
        if at > clock.now:  # starved: the rate fell so far that the next start is a minute away
            break
        n += 1
        refused = refuse(n, clock.now)
        sent.append((clock.now, refused))
        in_flight.append((clock.now + latency, clock.now, refused))
        in_flight.sort()
    return controller, sent


def _throughput(sent: list[tuple[float, bool]], since: float) -> float:
    """Successful calls per second from ``since`` (seconds after the first start) on."""
    t0 = sent[0][0]
    ok = [t for t, refused in sent if not refused and t - t0 >= since]
    return len(ok) / (sent[-1][0] - t0 - since)


@pytest.mark.parametrize("ceiling", [None, 6000.0])
def test_rate_independent_refusals_do_not_starve_the_rate(ceiling: float | None) -> None:
    # every 5th request refused, whatever the rate: capacity, not a quota
    controller, sent = _simulate(lambda n, t: n % 5 == 0, seconds=60, ceiling=ceiling)
    # 20 in flight, 0.2 s each: 100/s offered, 80/s succeed; the controller must not stand in the way
    assert _throughput(sent, since=10) > 60
    assert controller.refusals.recovered >= 1 and controller.refusals.tolerated == pytest.approx(0.2, abs=0.1)
    rpm = controller.limiter.requests_per_minute
    assert rpm is None or rpm >= 0.9 * (ceiling or 0)  # back at the ceiling (or no limit) it started from


@pytest.mark.parametrize("quota_rps", [5.0, 20.0])
def test_a_real_quota_is_still_learned(quota_rps: float) -> None:
    bucket = {"level": quota_rps, "at": 1000.0}  # a provider's token bucket: one second of burst

    def over_quota(_n: int, t: float) -> bool:
        bucket["level"] = min(quota_rps, bucket["level"] + (t - bucket["at"]) * quota_rps)
        bucket["at"] = t
        if bucket["level"] >= 1:
            bucket["level"] -= 1
            return False
        return True

    controller, sent = _simulate(over_quota, seconds=60, ceiling=None)
    late = [refused for t, refused in sent if t - sent[0][0] >= 30]
    assert sum(late) / len(late) < 0.05  # converged: the last half minute is (nearly) free of 429s
    assert 0.6 * quota_rps <= _throughput(sent, since=30) <= 1.05 * quota_rps
    rpm = controller.limiter.requests_per_minute
    assert rpm is not None and rpm <= 1.1 * quota_rps * 60


@pytest.mark.looptime
@pytest.mark.parametrize("retry_after", [0.0, 0.5])
async def test_the_readme_map_under_capacity_429s_runs_as_fast_as_without_control(retry_after: float) -> None:
    loop = asyncio.get_running_loop()
    elapsed: dict[bool, float] = {}
    async with FakeLLMServer(latency=0.2, clock=loop.time) as server:
        server.set_faults(rate_limit_every=5, retry_after=retry_after)
        for adaptive in (False, True):
            # Attempts enough that no call runs out of them on the every-5th pattern, with or without control
            # (with Retry-After 0 the retries of calls refused together arrive together: their chances of
            # landing on the 5th again are not independent).
            config = LLMConfig(
                model="fake", base_url=server.base_url, api_key=f"k{adaptive}", max_attempts=12
            )
            client = LLMClient(config, adaptive=adaptive, clock=loop.time)
            start = loop.time()
            async with asyncio.timeout(600):  # virtual seconds: before the fix, hours
                done = await parallel_map(client.call, [f"p{i}" for i in range(200)], max_concurrent=20)
            elapsed[adaptive] = loop.time() - start
            assert len(done) == 200
    assert elapsed[True] <= 3 * elapsed[False] + 2  # before: not done after 600 virtual seconds


def test_a_long_hold_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    controller = AdaptiveController(RateLimiter(clock=clock), clock=clock)
    controller.note_wait(45.0)  # nothing lowered yet: the wait is not the controller's doing
    controller.on_failure(RateLimitedError("429"))
    with caplog.at_level(logging.WARNING, logger="kagura.llm"):
        controller.note_wait(2.0)
        assert not caplog.records
        controller.note_wait(45.0)
        controller.note_wait(50.0)  # said once, not per call
    assert len(caplog.records) == 1 and "held back" in caplog.records[0].getMessage()
    assert controller.holding is not None and "held back" in controller.holding


def test_the_progress_line_says_when_calls_are_held_back() -> None:
    from kagura.cli._progress import ProgressLines
    from kagura.core.llm import LLMClient

    config = LLMConfig(model="fake", base_url="http://127.0.0.1:9/v1", api_key="held")
    client = LLMClient(config)
    if True:
        assert client.holding is None  # no call went there yet
        controller = client.controller
        assert controller is not None
        controller.on_failure(RateLimitedError("429"))
        controller.note_wait(30.0)
        now = [0.0]
        out = io.StringIO()
        lines = ProgressLines(out, 10.0, clock=lambda: now[0], note=lambda: client.holding)
        now[0] = 10.0
        lines(3, 10, 0)
        assert (
            out.getvalue()
            .rstrip()
            .endswith(", LLM calls held back 30 s by adaptive rate control (now 4 in flight)")
        )
