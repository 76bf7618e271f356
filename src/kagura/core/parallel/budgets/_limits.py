"""Rate budgets: requests-per-minute and tokens-per-minute as smooth rates with a bounded burst (GCRA).

Providers enforce a minute quota over much shorter periods (a quota "quantized" per second, or a bucket
refilled continuously), so a budget here is a *rate*, not a 60 s window: :class:`RateLimiter` admits
requests at ``requests_per_minute / 60`` per second, letting at most ``burst`` of them (and the matching
tokens) through at once. Each budget is one :class:`~._bucket.Bucket` (a GCRA token
bucket); the limiter combines them behind one lock, so a single limiter can be shared by every call to a
provider: by many tasks, by several ``parallel_map`` runs, and by several threads each running its own
event loop.

Admission is a *reservation*: under the lock, the limiter picks the earliest start at which one request
(and its tokens) fits every bucket, and never earlier than the previous reservation, books it, and the
caller sleeps until then. Reservations are first come, first served, so a large token request is never
starved by a stream of small ones, and waiting callers never poll.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kagura._checks import check_amount, check_rate
from kagura.core.parallel.budgets._bucket import Bucket

if TYPE_CHECKING:
    from kagura.core.parallel.budgets._redis_budget import OnRedisError, RedisBudget

__all__ = ["DEFAULT_BURST_SECONDS", "Limiter", "RateLimiter"]

Clock = Callable[[], float]
_ROUNDING = 1e-9  # seconds: clock readings this close to a reservation count as reaching it
_KEEP: Any = object()  # set_rates: "leave this one as it is"
_MAX_HOLES = 1024  # cancelled bookings kept aside before those already past are dropped

DEFAULT_BURST_SECONDS = 0.5
"""Without ``burst``, a limiter lets half a second of its rate through at once (at least one request).

Why half a second: a provider that quantizes its minute quota per second, or refills a bucket of one
second's worth, accepts a burst of up to one second of rate; network jitter between our admission and
their bucket eats into that margin, so we keep half of it in reserve. Raise ``burst`` toward one second of
rate when the provider documents a larger bucket, lower it (down to 1) for a strict per-second quota."""


@runtime_checkable
class Limiter(Protocol):
    """Anything the scheduler can ask for permission before starting one request.

    ``await limiter.acquire(tokens)`` returns when one request costing ``tokens`` may start.
    :class:`RateLimiter` is the built-in one; write your own for other budgets.
    """

    async def acquire(self, tokens: int = 0) -> None: ...


class RateLimiter:
    """Requests-per-minute and/or tokens-per-minute budget, admitted smoothly with a bounded burst.

    ``await limiter.acquire(tokens)`` waits until one request plus ``tokens`` tokens fit: requests start
    ``60 / requests_per_minute`` seconds apart once the burst is spent, tokens flow at
    ``tokens_per_minute / 60`` per second. Fractional budgets work (``requests_per_minute=0.5`` is one
    request every 120 s).

    - ``burst``: how many requests may start at once (>= 1, needs ``requests_per_minute``). Default:
      :data:`DEFAULT_BURST_SECONDS` (half a second) of the request rate, rounded down, at least 1 — e.g.
      10 for 1,200 RPM. The token bucket holds the same time's worth of tokens
      (``tokens_per_minute / 60 * burst / (requests_per_minute / 60)``; half a second of tokens with a
      token budget only). A request costing more tokens than that waits for a full bucket and is then
      charged in full, so the callers after it wait longer: the rate stays exact and nothing raises.
    - :meth:`adjust` reconciles a request's estimate with the provider's real ``usage`` afterwards;
      :meth:`set_rates` changes the budget of a live limiter (bookings already made are kept).
    - ``clock`` returns seconds on a monotonic scale shared by every user (default ``time.monotonic``,
      the clock of asyncio's default loop). Tests pass the loop's virtual clock, e.g.
      ``clock=asyncio.get_running_loop().time`` under ``looptime``.

    Thread-safe: state is guarded by a ``threading.Lock`` that is never held across an ``await``. A
    waiting :meth:`acquire` that is cancelled gives its booking back: the next caller starts as if it had
    never asked (one with later bookings still standing is given back when they are; see ``_give_back``).

    **Shared by several processes and hosts:** ``redis="redis://host:6379/0"`` and ``key="openai-prod"``
    keep the buckets in Redis (extra ``kagura[redis]``), with the same math run atomically in one Lua
    script per admission on the server's clock, so every limiter naming ``key`` shares one budget.
    ``on_redis_error`` says what happens when Redis goes away mid-run: ``"degrade"`` (default) goes on
    with a local limiter at this process's fair share of the budget (the budget divided by the processes
    that were sharing it) and returns to Redis when it answers again; ``"fail"`` raises
    :class:`~kagura.errors.BudgetUnavailableError` instead. Redis unreachable at the first admission
    raises :class:`~kagura.errors.ConfigurationError`. See :mod:`kagura.core.parallel.budgets._redis_budget`.
    With Redis, :meth:`reserve` is not available (booking is a network call: use :meth:`acquire`), and
    :meth:`adjust` is sent in the background.
    """

    __slots__ = (
        "_booked_requests",
        "_booked_tokens",
        "_burst",
        "_clock",
        "_holes",
        "_last",
        "_lock",
        "_requests",
        "_rpm",
        "_seq",
        "_shared",
        "_state",
        "_token_state",
        "_tokens",
        "_tpm",
    )

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst: float | None = None,
        clock: Clock | None = None,
        redis: str | None = None,
        key: str | None = None,
        on_redis_error: OnRedisError = "degrade",
    ) -> None:
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {type(clock).__name__}")
        self._clock: Clock = clock if clock is not None else time.monotonic
        self._lock = threading.Lock()
        self._requests: Bucket | None = None
        self._tokens: Bucket | None = None
        self._rpm: float | None = None
        self._tpm: float | None = None
        self._burst: float | None = None  # as given; None = the default
        self._last = float("-inf")  # latest reservation: admissions never go back in time (FCFS)
        self._seq = 0  # a counter naming each state of the buckets (never reused)
        self._state = 0  # the name of the current request bucket and order: is a booking still the latest?
        self._token_state = 0  # the same for the token bucket (also renamed by every token adjustment)
        self._holes: dict[int, _Booking] = {}  # cancelled bookings not yet given back, by the state after
        self._booked_requests = 0  # booked since creation
        self._booked_tokens = 0.0
        self._configure(requests_per_minute, tokens_per_minute, burst, now=None)
        self._shared: RedisBudget | None = None
        if redis is not None or key is not None:
            if redis is None or key is None:
                raise ValueError(
                    "a shared budget needs both redis='redis://HOST:6379/0' and key='NAME' (the name every "
                    "process sharing the budget uses)"
                )
            from kagura.core.parallel.budgets._redis_budget import RedisBudget

            self._shared = RedisBudget(
                redis, key, make_local=self._local_share, on_redis_error=on_redis_error, clock=self._clock
            )

    def _local_share(self, share: float, not_before: float) -> RateLimiter:
        """A local limiter for ``share`` of this budget, admitting nothing before ``not_before`` (used while
        the shared one is unreachable). It starts empty, with no burst: the processes sharing the budget
        were spending it at its rate, so a burst from each of them at once would add up to one more."""
        burst = self.burst
        local = RateLimiter(
            self._rpm * share if self._rpm is not None else None,
            self._tpm * share if self._tpm is not None else None,
            burst=max(1.0, burst * share) if burst is not None else None,
            clock=self._clock,
        )
        local._last = not_before
        start = max(not_before, self._clock())
        for bucket in (local._requests, local._tokens):
            if bucket is not None:
                bucket.tat = start + bucket.capacity * bucket.interval
        return local

    @property
    def shared(self) -> RedisBudget | None:
        """The Redis side of a shared budget (None for a local limiter)."""
        return self._shared

    # -- configuration ------------------------------------------------------------------------------

    def _configure(self, rpm: object, tpm: object, burst: object, now: float | None) -> None:
        """Validate and apply a budget; ``now`` None = a fresh limiter (full buckets)."""
        rpm = check_rate("requests_per_minute", rpm)
        tpm = check_rate("tokens_per_minute", tpm)
        burst = check_rate("burst", burst)
        if burst is not None and burst < 1:
            raise ValueError(f"burst must be >= 1 request (1 means no burst at all), got {burst!r}")
        if burst is not None and rpm is None:
            raise ValueError(
                "burst counts requests, so it needs requests_per_minute; with only tokens_per_minute the "
                f"token bucket holds {DEFAULT_BURST_SECONDS} s of the token rate"
            )
        seconds = DEFAULT_BURST_SECONDS
        requests = tokens = None
        if rpm is not None:
            rate = rpm / 60.0
            capacity = burst if burst is not None else max(1.0, math.floor(rate * DEFAULT_BURST_SECONDS))
            seconds = capacity / rate
            requests = (rate, capacity)
        if tpm is not None:
            tokens = (tpm / 60.0, tpm / 60.0 * seconds)
        self._requests = _rebuilt(self._requests, requests, now)
        self._tokens = _rebuilt(self._tokens, tokens, now)
        self._rpm, self._tpm, self._burst = rpm, tpm, burst

    def set_rates(
        self,
        *,
        requests_per_minute: float | None = _KEEP,
        tokens_per_minute: float | None = _KEEP,
        burst: float | None = _KEEP,
    ) -> None:
        """Change the budget of a live limiter; arguments left out keep their value, None removes a limit.

        Bookings already handed out stay valid. What was spent and not yet refilled is kept in units
        (requests, tokens) and refills at the new rate, so lowering a rate pushes the next admissions back
        accordingly. A default ``burst`` follows the new request rate; an explicit one is kept.
        """
        with self._lock:
            rpm = self._rpm if requests_per_minute is _KEEP else requests_per_minute
            tpm = self._tpm if tokens_per_minute is _KEEP else tokens_per_minute
            new_burst = self._burst if burst is _KEEP else burst
            if burst is _KEEP and rpm is None:
                new_burst = None  # an explicit burst goes with the request budget it was given for
            self._configure(rpm, tpm, new_burst, now=self._clock())
            self._new_state()

    @property
    def requests_per_minute(self) -> float | None:
        return self._rpm

    @property
    def tokens_per_minute(self) -> float | None:
        return self._tpm

    @property
    def burst(self) -> float | None:
        """How many requests may start at once (None without a request budget)."""
        return self._requests.capacity if self._requests is not None else None

    @property
    def token_burst(self) -> float | None:
        """How many tokens may be spent at once (None without a token budget)."""
        return self._tokens.capacity if self._tokens is not None else None

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self._rpm}, tokens_per_minute={self._tpm}, burst={self.burst})"
        )

    # -- admission ----------------------------------------------------------------------------------

    def reserve(self, tokens: float = 0) -> float:
        """Book the earliest start for one request of ``tokens`` tokens; returns that time on the clock.

        The booking counts against the budget immediately. :meth:`acquire` is this plus the sleep; call
        ``reserve`` directly only if you schedule the start yourself.
        """
        if self._shared is not None:
            raise TypeError("a Redis-shared RateLimiter books over the network: use `await acquire(tokens)`")
        return self._book(tokens)[0]

    def _new_state(self) -> None:
        """Name a new state of the buckets (lock held): bookings made before it can no longer be undone
        (later ones were computed with them counted), so their pending give-backs are forgotten."""
        self._seq += 1
        self._state = self._token_state = self._seq
        self._holes.clear()

    def _book(self, tokens: float) -> tuple[float, _Booking]:
        """Book one request; returns (admit, what a later give-back needs)."""
        tokens = check_amount("tokens", tokens)
        with self._lock:
            requests, bucket = self._requests, self._tokens
            admit = self._admit(self._clock(), tokens)
            booking = _Booking(
                admit,
                tokens,
                requests.tat if requests is not None else 0.0,
                bucket.tat if bucket is not None else 0.0,
                self._last,
                self._state,
                self._token_state,
            )
            if requests is not None:
                requests.book(1.0, admit)
            if bucket is not None and tokens:
                bucket.book(tokens, admit)
            self._last = admit
            self._seq += 1
            self._state = self._token_state = booking.after = self._seq
            self._booked_requests += 1
            self._booked_tokens += tokens
            return admit, booking

    def _give_back(self, booking: _Booking) -> None:
        """Give back a booking that will not be used (cancelled before its start).

        The latest booking is undone at once: the buckets return to the state before it, as if it had
        never been asked for, and so does every cancelled booking that this uncovers as the latest. A
        cancelled booking with bookings after it is kept aside (a *hole*) until they are given back too:
        undoing it earlier would let the next caller take its slot while the later bookings still keep
        theirs, a burst above the budget. :meth:`set_rates` forgets the holes (they stay spent). A token
        :meth:`adjust` made after a booking leaves its tokens spent when it is undone (its request slot and
        its place in the order are still given back): conservative, the tokens refill at their rate."""
        with self._lock:
            now = self._clock()
            if self._state != booking.after:
                if booking.start > now:
                    if len(self._holes) >= _MAX_HOLES:  # holes whose start passed: nothing waits on them
                        self._holes = {k: h for k, h in self._holes.items() if h.start > now}
                    self._holes[booking.after] = booking
                return
            while True:
                self._undo(booking)
                hole = self._holes.pop(self._state, None)
                if hole is None:
                    return
                booking = hole

    def _undo(self, booking: _Booking) -> None:
        """Put the buckets back as they were before ``booking`` (lock held; it is the latest): the token
        bucket too unless an adjustment changed it since (then the booking's tokens stay spent)."""
        if self._requests is not None:
            self._requests.tat = booking.requests_tat
        self._last = booking.last
        self._state = booking.before
        self._booked_requests -= 1
        if self._token_state == booking.after:
            if self._tokens is not None:
                self._tokens.tat = booking.tokens_tat
            self._token_state = booking.tokens_before
            self._booked_tokens -= booking.tokens

    async def acquire(self, tokens: float = 0) -> None:
        """Wait until one request costing ``tokens`` tokens may start within the budget."""
        if self._requests is None and self._tokens is None:
            if self._shared is not None and not self._shared.reached:
                await self._shared.ensure_reachable()  # nothing to book yet, but a bad URL fails now
            return
        if self._shared is not None:
            await self._acquire_shared(self._shared, tokens)
            return
        start, booking = self._book(tokens)
        clock = self._clock
        try:
            # A loop, not one sleep: a timer may fire early on a clock other than the loop's own. Below a
            # nanosecond the difference is float rounding, not time: stop there.
            while (delay := start - clock()) > _ROUNDING:  # noqa: ASYNC110 - sleeping until an instant
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if clock() < start:
                self._give_back(booking)
            raise

    def _specs(self, requests: float, tokens: float) -> tuple[tuple[float, float, float], ...]:
        """(seconds per unit or 0, capacity, units) of each bucket, as the shared script takes them."""
        with self._lock:
            req, tok = self._requests, self._tokens
            return (
                (req.interval, req.capacity, requests) if req is not None else (0.0, 0.0, 0.0),
                (tok.interval, tok.capacity, tokens) if tok is not None else (0.0, 0.0, 0.0),
            )

    async def _acquire_shared(self, shared: RedisBudget, tokens: float) -> None:
        tokens = check_amount("tokens", tokens)
        req, tok = self._specs(1.0, tokens)
        wait, reservation = await shared.admit(req, tok)
        with self._lock:
            self._booked_requests += 1
            self._booked_tokens += tokens
        if wait <= _ROUNDING:
            return
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            # Never used: give it back, off this path (undone in Redis once nothing booked after it stands)
            if reservation is not None:
                shared.give_back_soon(reservation)
            else:  # booked on the local share while Redis is away
                shared.adjust_soon(*self._specs(-1.0, -tokens))
            with self._lock:
                self._booked_requests -= 1
                self._booked_tokens -= tokens
            raise

    def adjust(self, tokens: float) -> None:
        """Reconcile after a call: charge ``tokens`` more (> 0) or refund them (< 0), e.g. real usage
        minus the estimate. A refund never gives more credit than a full bucket; a charge may push later
        bookings back. No-op without a token budget."""
        tokens = check_amount("tokens", tokens, signed=True)
        if self._shared is not None and self._tokens is not None and tokens:
            self._shared.adjust_soon(*self._specs(0.0, tokens))
            with self._lock:
                self._booked_tokens += tokens
            return
        with self._lock:
            bucket = self._tokens
            if bucket is None or not tokens:
                return
            now = self._clock()
            if tokens > 0:
                bucket.charge(tokens, now)
            else:
                tokens = -bucket.refund(-tokens, now)
            self._seq += 1  # a new token state: bookings before it keep their tokens if given back
            self._token_state = self._seq
            self._booked_tokens += tokens

    # -- introspection ------------------------------------------------------------------------------

    def usage(self) -> tuple[float, float]:
        """(requests, tokens) spent and not yet refilled now, counting bookings still waiting.

        0 means an idle limiter (full buckets); :attr:`burst` / :attr:`token_burst` means the next
        request waits; more than that is a queue of reservations.
        """
        with self._lock:
            now = self._clock()
            requests = self._requests.used(now) if self._requests is not None else 0.0
            tokens = self._tokens.used(now) if self._tokens is not None else 0.0
            return requests, tokens

    @property
    def booked(self) -> tuple[int, float]:
        """(requests, tokens) counted against the budget since the limiter was created.

        Tokens include :meth:`adjust` (a refund counts only as far as it gave credit back); a booking
        given back by a cancelled :meth:`acquire` is not counted."""
        with self._lock:
            return self._booked_requests, self._booked_tokens

    def wait_time(self, tokens: float = 0) -> float:
        """Seconds a request of ``tokens`` tokens asked for now would wait (nothing is booked)."""
        tokens = check_amount("tokens", tokens)
        with self._lock:
            now = self._clock()
            return self._admit(now, tokens) - now

    def _admit(self, now: float, tokens: float) -> float:
        """The earliest start for one request of ``tokens`` tokens asked at ``now`` (lock held)."""
        admit = max(now, self._last)
        if self._requests is not None:
            admit = max(admit, self._requests.earliest(1.0))
        if self._tokens is not None and tokens:
            admit = max(admit, self._tokens.earliest(tokens))
        return admit


class _Booking:
    """One local booking: its start and the buckets' state before it (to undo it if it is cancelled)."""

    __slots__ = ("after", "before", "last", "requests_tat", "start", "tokens", "tokens_before", "tokens_tat")

    def __init__(
        self,
        start: float,
        tokens: float,
        requests_tat: float,
        tokens_tat: float,
        last: float,
        before: int,
        tokens_before: int,
    ) -> None:
        self.start, self.tokens = start, tokens
        self.requests_tat, self.tokens_tat, self.last = requests_tat, tokens_tat, last
        self.before, self.tokens_before = before, tokens_before  # the names of the states it was booked on
        self.after = 0  # the name of the states it made


def _rebuilt(bucket: Bucket | None, params: tuple[float, float] | None, now: float | None) -> Bucket | None:
    """The bucket for a (rate, capacity) budget: new and full, or the old one retimed (None = no limit)."""
    if params is None:
        return None
    if bucket is None or now is None:
        return Bucket(*params)
    bucket.retime(*params, now)
    return bucket
