"""A cancelled task never outlives its cancellation inside a Redis-shared admission, and cancelled shared
bookings give their slots back. Against a real redis-server."""

from __future__ import annotations

import asyncio
import random

import pytest

from kagura.core.parallel import RateLimiter
from kagura.core.parallel.budgets._limits import _Booking
from kagura.core.parallel.budgets._shared_gcra import (
    KEY_PREFIX,
    Reservation,
    SharedGCRA,
    connect_redis,
    read_budgets,
)
from kagura.testing import RedisServer


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
                except Exception:  # the point: only a CancelledError stops it
                    pass
                done += 1
            return done

        if await _cancel_after(steps, asyncio.create_task(admissions())):
            ignored.append(steps)
    assert limiter.shared is not None
    await limiter.shared.close()
    assert ignored == []


async def _booked(limiter: RateLimiter, requests: int) -> None:
    # every waiter has its reservation and sleeps until its start (polled: booking is a network call)
    while limiter.booked[0] < requests:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def _given_back(limiter: RateLimiter) -> None:
    assert limiter.shared is not None
    while limiter.shared._pending:  # the give-backs run in the background
        await asyncio.gather(*limiter.shared._pending, return_exceptions=True)


async def _state(redis_server: RedisServer, key: str) -> list[str | None]:
    client = connect_redis(redis_server.url)
    try:
        return await client.hmget(KEY_PREFIX + key, "tat_req", "last")
    finally:
        await client.aclose()


@pytest.mark.parametrize("order", ["first_booked_first", "last_booked_first"])
async def test_cancelled_shared_bookings_all_give_their_slots_back(
    redis_server: RedisServer, order: str
) -> None:
    """Ten waiters cancelled before their start: the shared budget returns exactly to its state after the
    one admission that was used (its ``tat`` and its ``last`` start), whatever order the give-backs
    reach Redis in, so the next admission waits for nothing they booked. Refunding units used to leave
    ``last`` at the tenth booking: the next caller still waited for all ten."""
    key = f"test:give-back-{order}"
    limiter = RateLimiter(requests_per_minute=6, redis=redis_server.url, key=key)  # 10 s apart, burst 1
    await limiter.acquire()
    after_first = await _state(redis_server, key)
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(10)]
    await _booked(limiter, 11)
    for waiter in waiters if order == "first_booked_first" else reversed(waiters):
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await _given_back(limiter)
    assert await _state(redis_server, key) == after_first
    assert limiter.shared is not None
    await limiter.shared.close()


async def test_a_cancelled_shared_booking_before_a_standing_one_stays_spent(
    redis_server: RedisServer,
) -> None:
    """A booking with a later one still standing is not undone (the next caller would start beside that
    later one: a burst above the budget); it is undone when the later one is given back too."""
    key = "test:give-back-hole"
    limiter = RateLimiter(requests_per_minute=6, redis=redis_server.url, key=key)
    await limiter.acquire()
    after_first = await _state(redis_server, key)
    early = asyncio.create_task(limiter.acquire())
    await _booked(limiter, 2)
    later = asyncio.create_task(limiter.acquire())
    await _booked(limiter, 3)
    after_later = await _state(redis_server, key)
    early.cancel()
    await asyncio.gather(early, return_exceptions=True)
    await _given_back(limiter)
    assert await _state(redis_server, key) == after_later  # the later booking still stands
    client = connect_redis(redis_server.url)
    try:
        assert await client.hlen(KEY_PREFIX + key + ":holes") == 1  # kept aside until the later one goes
        assert key + ":holes" not in [b.key for b in await read_budgets(client)]  # not a budget of its own
    finally:
        await client.aclose()
    later.cancel()
    await asyncio.gather(later, return_exceptions=True)
    await _given_back(limiter)
    assert await _state(redis_server, key) == after_first  # both gone: as if neither had asked
    assert limiter.shared is not None
    await limiter.shared.close()


async def test_a_token_reconciliation_between_keeps_only_the_cancelled_tokens_spent(
    redis_server: RedisServer,
) -> None:
    """A call finishing meanwhile reconciles its tokens: the cancelled bookings still give their request
    slots and their place in the order back (``tat_req`` and ``last`` as after the first admission); only
    their tokens stay spent (conservative: undoing them would also undo the reconciliation)."""
    key = "test:give-back-tokens"
    limiter = RateLimiter(requests_per_minute=6, tokens_per_minute=6000, redis=redis_server.url, key=key)
    await limiter.acquire(10)
    after_first = await _state(redis_server, key)
    waiters = [asyncio.create_task(limiter.acquire(10)) for _ in range(10)]
    await _booked(limiter, 11)
    limiter.adjust(5)  # the first call used 5 tokens more than estimated
    await _given_back(limiter)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await _given_back(limiter)
    assert await _state(redis_server, key) == after_first
    assert limiter.shared is not None
    await limiter.shared.close()


async def test_redis_gives_back_exactly_what_the_local_limiter_gives_back(redis_server: RedisServer) -> None:
    """Differential: the Lua scripts and the local buckets, fed the same clock readings and the same mix
    of admissions, give-backs in any order (holes included) and token reconciliations, book every
    admission at the same instant."""
    rng = random.Random(11)
    clock = ManualClock()
    local = RateLimiter(requests_per_minute=60, tokens_per_minute=3000, clock=clock)  # 50 tokens a second
    client = connect_redis(redis_server.url)
    shared = SharedGCRA(client, "test:differential-give-back")
    outstanding: list[tuple[Reservation, _Booking]] = []
    undone = 0
    try:
        for step in range(400):
            roll = rng.random()
            if roll < 0.25 and outstanding:  # the latest few cancelled together, given back in any order
                batch = outstanding[-rng.randint(1, 5) :]
                del outstanding[-len(batch) :]
                rng.shuffle(batch)
                for reservation, booking in batch:
                    undone += await shared.give_back(reservation)
                    local._give_back(booking)
            elif roll < 0.35 and outstanding:  # one cancelled anywhere in the queue: a hole
                reservation, booking = outstanding.pop(rng.randrange(len(outstanding)))
                undone += await shared.give_back(reservation)
                local._give_back(booking)
            elif roll < 0.4:
                delta = rng.choice([5, 20, 80])  # a call used more tokens than estimated
                _, tok = local._specs(0.0, 0.0)
                await shared.adjust((0, 0.0, 0.0), (delta, *tok[:2]))
                local.adjust(delta)
            else:
                tokens = rng.choice([0, 10, 40, 120])
                req, tok = local._specs(1.0, tokens)
                got = await shared.reserve(req, tok)
                clock.now = got.now  # the local limiter sees the instant the server saw
                admit, booking = local._book(tokens)
                assert admit == pytest.approx(got.now + got.wait, abs=1e-6), step
                outstanding.append((got, booking))
        assert undone > 50  # the mix did exercise the give-backs (holes uncovered included)
    finally:
        await client.delete(shared.state_key, shared.members_key, shared.holes_key)
        await client.aclose()


async def test_closing_right_after_a_cancel_still_gives_the_bookings_back(redis_server: RedisServer) -> None:
    """Ctrl-C cancels every waiter and the client closes at once: the give-backs still pending are sent
    before the connections close, so the budget other processes share does not keep the cancelled
    bookings (and no connection is opened again behind the close)."""
    key = "test:give-back-close"
    limiter = RateLimiter(requests_per_minute=6, redis=redis_server.url, key=key)
    await limiter.acquire()
    after_first = await _state(redis_server, key)
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(5)]
    await _booked(limiter, 6)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.sleep(0)  # the waiters handle their cancellation: their give-backs are queued, not sent
    assert all(waiter.done() for waiter in waiters)
    assert limiter.shared is not None
    await limiter.shared.close()
    assert await _state(redis_server, key) == after_first
    assert not limiter.shared._per_loop and not limiter.shared._pending
