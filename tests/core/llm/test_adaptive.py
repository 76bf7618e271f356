"""Adaptive control: the concurrency gate, AIMD steps, header learning and the configured ceiling.

The controller runs on a hand-moved clock object, so every step is exact; the gate's tests that let
callbacks run do so on looptime's virtual clock (the cross-thread one waits on a thread, not a timer).
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kagura.core.llm import AdaptiveController, AdaptiveState, ConcurrencyGate, LocalAdaptiveState
from kagura.core.parallel import RateLimiter
from kagura.errors import KaguraTimeoutError, RateLimitedError, ServerError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _controller(rpm: float | None = None, tpm: float | None = None, **kw: object) -> AdaptiveController:
    clock = Clock()
    limiter = RateLimiter(rpm, tpm, clock=clock)
    return AdaptiveController(limiter, ceiling_rpm=rpm, ceiling_tpm=tpm, clock=clock, **kw)  # type: ignore[arg-type]


def _rate_limited(**headers: str) -> RateLimitedError:
    error = RateLimitedError("429", retry_after=1.0)
    error.headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return error


# -- the gate --------------------------------------------------------------------------------------------
@pytest.mark.looptime
async def test_gate_admits_first_come_first_served_up_to_the_limit() -> None:
    gate = ConcurrencyGate(2)
    order: list[int] = []

    async def worker(i: int, release: asyncio.Event) -> None:
        await gate.acquire()
        order.append(i)
        await release.wait()
        gate.release()

    events = [asyncio.Event() for _ in range(5)]
    tasks = [asyncio.create_task(worker(i, events[i])) for i in range(5)]
    await asyncio.sleep(0)
    assert order == [0, 1] and gate.in_flight == 2 and gate.waiting == 3
    events[1].set()
    await asyncio.sleep(0.01)
    assert order == [0, 1, 2]
    gate.limit = 4  # raising the limit wakes waiters at once
    await asyncio.sleep(0.01)
    assert order == [0, 1, 2, 3, 4] and gate.in_flight == 4
    gate.limit = 1  # lowering never interrupts holders
    assert gate.in_flight == 4
    for e in events:
        e.set()
    await asyncio.gather(*tasks)
    assert gate.in_flight == 0


@pytest.mark.looptime
async def test_a_cancelled_waiter_leaves_no_slot_behind() -> None:
    gate = ConcurrencyGate(1)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    gate.release()  # the wake-up races the cancellation
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0.01)
    assert gate.in_flight == 0 and gate.waiting == 0
    await asyncio.wait_for(gate.acquire(), 1)  # the slot is free again


async def test_gate_is_shared_across_threads_with_their_own_loops() -> None:
    gate = ConcurrencyGate(1)
    await gate.acquire()
    entered = threading.Event()

    def other_thread() -> None:
        async def main() -> None:
            await gate.acquire()
            entered.set()
            gate.release()

        asyncio.run(main())

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert not await asyncio.to_thread(entered.wait, 0.2)  # it cannot enter while we hold the slot
    gate.release()
    await asyncio.to_thread(thread.join, 10)
    assert entered.is_set() and gate.in_flight == 0


@pytest.mark.parametrize("bad", [0, 0.5, -1])
def test_gate_limit_below_one_is_a_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        ConcurrencyGate(bad)
    with pytest.raises(TypeError):
        ConcurrencyGate(True)


# -- AIMD -------------------------------------------------------------------------------------------------
def test_slow_start_adds_half_per_success_while_the_limit_binds() -> None:
    assert _controller().state.concurrency == 8  # the default first round trip with an unknown quota
    c = _controller(initial_concurrency=1)
    assert c.state.concurrency == 1 and c.state.slow_start
    c.on_success()  # nobody else waiting, 0 in flight, limit 1: the limit binds
    assert c.state.concurrency == 1.5
    c.on_success()  # floor(1.5) = 1 slot: still binding
    assert c.state.concurrency == 2
    c.on_success()  # limit 2, 0 in flight: the limit does not bind, no growth
    assert c.state.concurrency == 2
    assert c.limiter.requests_per_minute is None  # nothing learned about the rate


def test_first_429_sets_the_rate_from_the_measured_success_rate() -> None:
    c = _controller()
    clock = c.clock
    assert isinstance(clock, Clock)
    for _ in range(20):  # 20 successes over 2 s: 600 per minute
        clock.now += 0.1
        c.on_success()
    c.on_failure(_rate_limited())
    s = c.state
    assert not s.slow_start
    assert s.requests_per_minute == pytest.approx(600 * 0.85, rel=0.06)
    assert c.limiter.requests_per_minute == s.requests_per_minute


def test_429_decreases_multiplicatively_once_per_episode_and_success_recovers_additively() -> None:
    c = _controller(rpm=1200)
    clock = c.clock
    assert isinstance(clock, Clock)
    sent = clock.now - 0.2
    c.on_failure(_rate_limited(), started=sent)
    assert c.state.requests_per_minute == pytest.approx(1020)
    clock.now += 0.1
    c.on_failure(_rate_limited())  # within the cool-down: the same overload
    clock.now += 0.5
    c.on_failure(_rate_limited(), started=sent)  # sent before the cut: says nothing about 1,020
    assert c.state.requests_per_minute == pytest.approx(1020)
    clock.now += 1.0  # the limiter's burst has drained: outcomes from here on are the new rate's
    c.on_failure(_rate_limited(), started=clock.now - 0.1)  # one outcome at 1,020: too early to judge
    assert c.state.requests_per_minute == pytest.approx(1020)
    for _ in range(6):  # at 1,020 a quarter is refused, against all of them at 1,200: the cut helped
        c.on_success(started=clock.now - 0.1)
    lowered = c.state.requests_per_minute
    assert lowered == pytest.approx(1020 * 1.02)  # +2 % per second since the cut
    c.on_failure(_rate_limited(), started=clock.now - 0.1)
    assert c.state.requests_per_minute == pytest.approx(lowered * 0.85)
    cut = c.state.requests_per_minute
    for _ in range(10):  # one second of successes: +2 %
        clock.now += 0.1
        c.on_success()
    assert c.state.requests_per_minute == pytest.approx(cut * 1.02, rel=1e-3)
    for _ in range(200):  # long enough to climb back: never above the configured ceiling
        clock.now += 0.1
        c.on_success()
    assert c.state.requests_per_minute == 1200 and c.limiter.requests_per_minute == 1200


@pytest.mark.parametrize(
    "error", [ServerError("503", status=503), KaguraTimeoutError("slow"), ServerError("gw", status=504)]
)
def test_overload_halves_the_concurrency_limit(error: Exception) -> None:
    c = _controller(initial_concurrency=16)
    c.on_failure(error)
    assert c.state.concurrency == 8 and c.gate.limit == 8 and not c.state.slow_start
    c.clock.now += 2  # type: ignore[attr-defined]
    c.on_failure(error)
    assert c.state.concurrency == 4
    c.on_failure(ServerError("500", status=500))  # a plain 500 is a bug, not overload
    assert c.state.concurrency == 4


def test_announced_quota_becomes_the_rate_capped_by_the_ceiling() -> None:
    c = _controller()
    c.on_success({"x-ratelimit-limit-requests": "600", "x-ratelimit-limit-tokens": "90000"})
    assert (c.state.requests_per_minute, c.state.tokens_per_minute) == (600, 90000)
    assert (c.limiter.requests_per_minute, c.limiter.tokens_per_minute) == (600, 90000)
    capped = _controller(rpm=300)
    capped.on_success({"x-ratelimit-limit-requests": "600"})
    assert capped.state.requests_per_minute == 300 and capped.limiter.requests_per_minute == 300


async def test_calls_in_flight_when_the_quota_is_first_learned_count_against_the_new_rate() -> None:
    """The first answers announce 600 RPM while 8 calls (sent before any rate) are out: they spent the
    provider's burst, so the limiter must not let its own burst of 5 out on top of them (that cost 429s
    and a rate cut on the fake server; kagura bench quota b)."""
    c = _controller()
    for _ in range(8):
        await c.gate.acquire()
    c.on_success({"x-ratelimit-limit-requests": "600"})
    assert c.limiter.requests_per_minute == 600
    assert c.limiter.wait_time() == pytest.approx((8 - 5 + 1) / 10)  # 8 booked at 10/s, a burst of 5
    later = _controller(rpm=None)
    later.on_success({"x-ratelimit-limit-requests": "600"})  # nothing in flight: the burst is whole
    assert later.limiter.wait_time() == 0


def test_a_lowered_quota_in_a_429_takes_effect_and_is_cut_further() -> None:
    c = _controller()
    c.on_success({"x-ratelimit-limit-requests": "600"})
    c.on_failure(_rate_limited(x_ratelimit_limit_requests="300"))
    assert c.state.requests_per_minute == pytest.approx(300 * 0.85)
    c.clock.now += 2  # type: ignore[attr-defined]
    c.on_success({"x-ratelimit-limit-requests": "300"})  # recently cut: climb back, do not jump
    assert c.state.requests_per_minute < 300
    c.clock.now += 10  # type: ignore[attr-defined]
    c.on_success({"x-ratelimit-limit-requests": "300"})  # quiet for 5 cool-downs: trust the quota again
    assert c.state.requests_per_minute == 300


def test_set_ceiling_restarts_from_the_new_budget() -> None:
    c = _controller(rpm=1200)
    c.on_failure(_rate_limited())
    c.set_ceiling(600, None)
    assert c.state.requests_per_minute == 600 and c.limiter.requests_per_minute == 600
    c.set_ceiling(None, None)  # no ceiling, nothing announced: no limit until something is learned
    assert c.state.requests_per_minute is None and c.limiter.requests_per_minute is None
    c.on_success({"x-ratelimit-limit-requests": "900"})
    c.set_ceiling(None, 5000)  # the announced quota stays the cap
    assert c.state.requests_per_minute == 900 and c.state.tokens_per_minute == 5000


def test_the_state_lives_behind_the_store_interface() -> None:
    store = LocalAdaptiveState(AdaptiveState(requests_per_minute=100.0, concurrency=3.0))
    c = _controller(store=store)
    assert c.gate.limit == 3
    c.on_failure(_rate_limited())
    assert store.get().requests_per_minute == pytest.approx(85.0)  # written through the store


OUTCOMES = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3),
        st.sampled_from(["ok", "ok-headers", "429", "429-headers", "503", "timeout"]),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ceiling=st.floats(min_value=1, max_value=5000), announced=st.floats(min_value=1, max_value=10000),
       outcomes=OUTCOMES)  # fmt: skip
def test_the_configured_ceiling_is_never_exceeded(
    ceiling: float, announced: float, outcomes: list[tuple[float, str]]
) -> None:
    c = _controller(rpm=ceiling, tpm=ceiling * 100)
    headers = {
        "x-ratelimit-limit-requests": str(announced),
        "x-ratelimit-limit-tokens": str(announced * 1000),
    }
    for dt, outcome in outcomes:
        c.clock.now += dt  # type: ignore[attr-defined]
        if outcome.startswith("ok"):
            c.on_success(headers if outcome == "ok-headers" else None)
        elif outcome.startswith("429"):
            error = _rate_limited(
                **({} if outcome == "429" else {k.replace("-", "_"): v for k, v in headers.items()})
            )
            c.on_failure(error)
        else:
            c.on_failure(ServerError("x", status=503) if outcome == "503" else KaguraTimeoutError("t"))
        rpm, tpm = c.limiter.requests_per_minute, c.limiter.tokens_per_minute
        assert rpm is not None and 0 < rpm <= ceiling + 1e-9
        assert tpm is not None and 0 < tpm <= ceiling * 100 + 1e-6
        assert 1 <= c.gate.limit <= c.max_concurrency


def test_bad_knobs_are_value_errors() -> None:
    with pytest.raises(ValueError, match="decrease"):
        _controller(decrease=1.5)
    with pytest.raises(ValueError, match="initial_concurrency"):
        _controller(initial_concurrency=0)


@pytest.mark.parametrize("rpm", [40_000, 1_000_000])
def test_a_budget_with_bursts_above_the_ceiling_starts_at_the_ceiling(rpm: int) -> None:
    """A high configured budget (its bursts of hundreds) starts the controller at its concurrency ceiling
    instead of refusing to build the client (it raised ValueError from 40,000 RPM up)."""
    from kagura.core.llm import LLMClient, LLMConfig

    client = LLMClient(
        LLMConfig(model="m", base_url="http://127.0.0.1:9/v1", api_key="k", requests_per_minute=rpm)
    )
    assert client.controller is not None
    assert client.controller.state.concurrency == client.controller.max_concurrency
