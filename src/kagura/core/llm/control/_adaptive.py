"""Adaptive rate control: learn an endpoint's quota from its headers, or from outcomes (AIMD).

One :class:`AdaptiveController` per endpoint (an :class:`~kagura.core.llm.LLMClient` owns it). It steers
two knobs before every call:

- the **rate** of the client's :class:`~kagura.core.parallel.RateLimiter` (``set_rates``), and
- a **concurrency limit** (:class:`ConcurrencyGate`) on requests in flight.

How it learns:

1. **Headers first.** When a response announces the quota (``x-ratelimit-limit-requests``,
   ``anthropic-ratelimit-*``, see :mod:`~kagura.core.llm.providers._quota_headers`), that per-minute
   limit becomes the rate, capped by the configured budget.
2. **Outcomes otherwise** (additive increase, multiplicative decrease, as TCP congestion control and
   Netflix's concurrency-limits do): a 429 multiplies the rate by ``decrease``, and brings it to at most 90%
   of the success rate measured over the last two seconds (while calls are being refused, what gets
   through *is* the quota, so this converges in one step); a 503, timeout or dropped connection halves the
   concurrency limit. One overload shows up as a cluster of failures, so a failure of an attempt sent before
   the last decrease causes no further one (nor does any within ``cooldown`` seconds of it). Each success
   adds ``increase × rate`` per elapsed second back to the rate and, while the concurrency limit (not the
   rate) is what holds calls back, ``1/limit`` to the concurrency limit (``+0.5`` per success in the
   initial slow start, i.e. x1.5 every round trip until the first sign of overload). Keeping the limit
   near what the rate needs keeps few bookings outstanding, so a lowered rate takes effect within a round
   trip instead of after a queue booked at the old rate.
   **A cut is an experiment** (:mod:`~kagura.core.llm.control._refusals`): providers also answer 429 for
   capacity they lack at any rate. After a decrease, the next one waits until the share of 429s at the lowered
   rate is known; a cut that did not lower that share is undone (the rate goes back to the one that was
   succeeding just as well, its floor) and that share becomes the tolerated level: from then on only a
   share above it lowers the rate.
3. **A configured budget is a ceiling**: the controller never sets a rate above it.

State seam: everything learned lives in one small :class:`~kagura.core.llm.AdaptiveState`
read and written only through an :class:`~kagura.core.llm.AdaptiveStore` (``get`` /
``update``). The default keeps it in memory; a Redis-backed store (same two methods) shares what one
process learned with every other process using the same endpoint and key.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping

from kagura.core.llm.control._adaptive_state import AdaptiveState, AdaptiveStore, LocalAdaptiveState
from kagura.core.llm.control._gate import ConcurrencyGate
from kagura.core.llm.control._hold_notice import HoldNotice
from kagura.core.llm.control._refusals import RateTried, RefusalTest, Verdict
from kagura.core.llm.providers._quota_headers import QuotaHeaders, parse_quota_headers
from kagura.core.parallel import RateLimiter
from kagura.errors import KaguraTimeoutError, ProviderConnectionError, RateLimitedError, ServerError

__all__ = ["AdaptiveController"]

log = logging.getLogger("kagura.llm")
Clock = Callable[[], float]
_MEASURE_WINDOW = 2.0  # seconds of successes used to estimate the rate the endpoint sustained
_INITIAL = 8.0  # concurrency limit of the first round trip to an endpoint whose quota is unknown
_SLOW_START_STEP = 0.5  # added to the concurrency limit per success in slow start: x1.5 per round trip
_BELOW_MEASURED = 0.9  # a 429 sets the rate at most this share of the success rate just measured
_HEADER_TRUST = 5.0  # seconds after a decrease before an announced limit is trusted again outright


class AdaptiveController:
    """Learns how fast one endpoint may be called; see the module docstring for the rules.

    ``ceiling_rpm`` / ``ceiling_tpm``: the configured budget (None: no ceiling). ``clock``: seconds, the
    same clock as the limiter's (tests pass the loop's virtual clock). ``store``: where the learned state
    lives (default: in memory). ``initial_concurrency``: default 8 with no budget (the first answers may
    announce the quota; slow start grows it x1.5 every round trip from there), else twice the limiter's
    burst (at least 8).
    """

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        ceiling_rpm: float | None = None,
        ceiling_tpm: float | None = None,
        clock: Clock | None = None,
        store: AdaptiveStore | None = None,
        initial_concurrency: float | None = None,
        max_concurrency: float = 512.0,
        decrease: float = 0.85,
        increase: float = 0.02,
        cooldown: float = 0.25,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1 (a multiplier), got {decrease!r}")
        if increase <= 0 or cooldown < 0:
            raise ValueError("increase must be > 0 and cooldown >= 0")
        initial = self.initial_state(
            limiter, ceiling_rpm, ceiling_tpm, initial_concurrency, max_concurrency=max_concurrency
        )
        if not 1 <= initial.concurrency <= max_concurrency:
            raise ValueError("need 1 <= initial_concurrency <= max_concurrency")
        self.limiter = limiter
        self.clock: Clock = clock or time.monotonic
        self.max_concurrency = float(max_concurrency)
        self.decrease = decrease
        self.increase = increase
        self.cooldown = cooldown
        self.ceiling_rpm = ceiling_rpm
        self.ceiling_tpm = ceiling_tpm
        self.store: AdaptiveStore = store or LocalAdaptiveState(initial)
        self.gate = ConcurrencyGate(self.store.get().concurrency)
        self._successes: deque[float] = deque(maxlen=4096)
        self.refusals = RefusalTest()
        self.notice = HoldNotice(self.clock)
        self._applied: tuple[float | None, float | None] = (ceiling_rpm, ceiling_tpm)

    @staticmethod
    def initial_state(
        limiter: RateLimiter,
        ceiling_rpm: float | None = None,
        ceiling_tpm: float | None = None,
        initial_concurrency: float | None = None,
        *,
        max_concurrency: float = 512.0,
    ) -> AdaptiveState:
        """What the controller starts from (also the seed of a shared store before anyone learned)."""
        if initial_concurrency is None:
            # Unknown quota: a first round trip of at most 8 (its answers may announce the quota; as
            # TCP's initial window), then slow start. A configured budget: room for two bursts at once,
            # within the controller's ceiling (a budget of 40,000 RPM has bursts of hundreds).
            burst = limiter.burst if ceiling_rpm is not None else None
            wanted = max(_INITIAL, 2 * burst) if burst is not None else _INITIAL
            initial_concurrency = min(wanted, max_concurrency)
        return AdaptiveState(
            requests_per_minute=ceiling_rpm, tokens_per_minute=ceiling_tpm, concurrency=initial_concurrency
        )

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def state(self) -> AdaptiveState:
        return self.store.get()

    def set_ceiling(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        """Change the configured budget: each rate restarts from its new ceiling, capped by the quota the
        provider announced; a removed ceiling leaves the announced quota (or no limit) to learn from."""
        self.ceiling_rpm, self.ceiling_tpm = requests_per_minute, tokens_per_minute
        self.refusals.reset()

        def change(s: AdaptiveState) -> AdaptiveState:
            rpm = requests_per_minute if requests_per_minute is not None else s.header_requests
            tpm = tokens_per_minute if tokens_per_minute is not None else s.header_tokens
            return s.replace(
                requests_per_minute=_cap(rpm, s.header_requests),
                tokens_per_minute=_cap(tpm, s.header_tokens),
            )

        self._apply(self.store.update(change), force=True)

    # -- outcomes --------------------------------------------------------------------------------------
    def on_success(self, headers: Mapping[str, str] | None = None, started: float | None = None) -> None:
        """A call succeeded (with the response's headers, when the provider surfaced them; ``started``:
        when it was sent)."""
        now = self.clock()
        self.refusals.record(started, refused=False)
        self._successes.append(now)
        quota = parse_quota_headers(headers) if headers else QuotaHeaders()
        # Grow the concurrency limit only when it is what holds calls back: not when they queue for the
        # rate (then more slots would only book more of the future at a rate that may be about to fall).
        pressed = (
            self.gate.in_flight + self.gate.waiting + 1 >= math.floor(self.gate.limit)
            and self.limiter.wait_time() <= 0
        )

        def change(s: AdaptiveState) -> AdaptiveState:
            s = self._learn_headers(s, quota, now)
            concurrency = s.concurrency
            if pressed:
                concurrency += _SLOW_START_STEP if s.slow_start else 1.0 / concurrency
            rpm, tpm = s.requests_per_minute, s.tokens_per_minute
            if s.last_increase > -math.inf:
                dt = max(0.0, now - s.last_increase)
                factor = 1.0 + self.increase * min(dt, 1.0)
                rpm = rpm * factor if rpm is not None else None
                tpm = tpm * factor if tpm is not None else None
            return s.replace(
                concurrency=min(self.max_concurrency, concurrency),
                requests_per_minute=_cap(rpm, self.ceiling_rpm, s.header_requests),
                tokens_per_minute=_cap(tpm, self.ceiling_tpm, s.header_tokens),
                last_increase=now,
            )

        self._apply(self.store.update(change))

    def on_failure(self, error: BaseException, started: float | None = None) -> None:
        """A call failed: 429 lowers the rate, 503/timeouts/dropped connections the concurrency limit.

        ``started``: when the failed attempt was sent (clock time). A failure of an attempt sent before
        the last decrease says nothing about the lowered setting and causes no further decrease.
        """
        if isinstance(error, RateLimitedError):
            self._on_rate_limited(error, started)
        elif isinstance(error, KaguraTimeoutError | ProviderConnectionError) or (
            isinstance(error, ServerError) and error.status in (502, 503, 504, None)
        ):
            self._on_overload(started)

    def _stale(self, s: AdaptiveState, now: float, started: float | None) -> bool:
        """True when a failure must not cause a decrease: in the cool-down, or sent before the last one."""
        return now - s.last_decrease < self.cooldown or (started is not None and started < s.last_decrease)

    def _on_rate_limited(self, error: RateLimitedError, started: float | None) -> None:
        now = self.clock()
        headers = getattr(error, "headers", None)
        quota = parse_quota_headers(headers) if headers else QuotaHeaders()
        self.refusals.record(started, refused=True)
        before = self.store.get()
        verdict = Verdict.HOLD if self._stale(before, now, started) else self.refusals.verdict()
        if verdict is Verdict.RECOVER:  # the last cut changed nothing: these 429s ignore the rate
            back = self.refusals.recover(now, self._settle(before.requests_per_minute))
            rate = back.requests_per_minute
            log.info(
                "kagura llm: %.0f%% of requests are refused at any rate; back to %s",
                100 * self.refusals.tolerated,
                f"{rate:.0f} RPM" if rate is not None else "no rate limit",
            )

            def restore(s: AdaptiveState) -> AdaptiveState:
                s = self._learn_headers(s, quota, now)
                return s.replace(
                    requests_per_minute=_cap(back.requests_per_minute, self.ceiling_rpm, s.header_requests),
                    tokens_per_minute=_cap(back.tokens_per_minute, self.ceiling_tpm, s.header_tokens),
                    last_increase=now,
                )

            self._apply(self.store.update(restore))
            return
        if verdict is Verdict.HOLD:
            self._apply(self.store.update(lambda s: self._learn_headers(s, quota, now)))
            return
        measured = self._measured_rpm(now, 1 if before.requests_per_minute is None else 4)
        tried = RateTried(
            self.refusals.share, self.refusals.outcomes, before.requests_per_minute, before.tokens_per_minute
        )
        self.refusals.decreased(now, tried, self._settle(before.requests_per_minute))

        def change(s: AdaptiveState) -> AdaptiveState:
            s = self._learn_headers(s, quota, now)
            rpm = s.requests_per_minute
            if rpm is not None:
                rpm *= self.decrease
            if measured is not None:  # just below what got through: while over quota, that *is* the quota
                rpm = min(rpm, measured * _BELOW_MEASURED) if rpm is not None else measured * _BELOW_MEASURED
            tpm = s.tokens_per_minute
            tpm = tpm * self.decrease if tpm is not None else None
            return s.replace(
                requests_per_minute=_cap(rpm, self.ceiling_rpm, s.header_requests),
                tokens_per_minute=_cap(tpm, self.ceiling_tpm, s.header_tokens),
                concurrency=s.concurrency if rpm is not None else max(1.0, s.concurrency / 2),
                slow_start=False,
                last_decrease=now,
                last_increase=now,
            )

        self._apply(self.store.update(change))

    def _on_overload(self, started: float | None) -> None:
        now = self.clock()

        def change(s: AdaptiveState) -> AdaptiveState:
            if self._stale(s, now, started):
                return s
            return s.replace(concurrency=max(1.0, s.concurrency / 2), slow_start=False, last_decrease=now)

        self._apply(self.store.update(change))

    # -- saying so --------------------------------------------------------------------------------------
    def note_wait(self, seconds: float) -> None:
        """An admission just waited ``seconds`` for its slot and rate: a long wait caused by what this
        controller lowered is logged (once a minute) and shown by :attr:`holding`."""
        s = self.store.get()
        at_ceiling = self.ceiling_rpm is not None and (s.requests_per_minute or 0) >= self.ceiling_rpm
        if not s.slow_start and not at_ceiling:  # something was lowered: the wait is this controller's
            self.notice.note(seconds, s.requests_per_minute, s.concurrency)

    @property
    def holding(self) -> str | None:
        """A line saying that calls are being held back, while that is so (for progress lines)."""
        return self.notice.line

    # -- helpers ---------------------------------------------------------------------------------------
    def _learn_headers(self, s: AdaptiveState, quota: QuotaHeaders, now: float) -> AdaptiveState:
        """Take an announced per-minute quota as the cap; jump to it unless a 429 was seen lately."""
        if quota.limit_requests is None and quota.limit_tokens is None:
            return s
        trusted = now - s.last_decrease >= _HEADER_TRUST
        rpm, tpm = s.requests_per_minute, s.tokens_per_minute
        if quota.limit_requests:
            cap = _cap(quota.limit_requests, self.ceiling_rpm, None)
            rpm = cap if (rpm is None or trusted) else min(rpm, cap or rpm)
        if quota.limit_tokens:
            cap = _cap(quota.limit_tokens, self.ceiling_tpm, None)
            tpm = cap if (tpm is None or trusted) else min(tpm, cap or tpm)
        return s.replace(
            header_requests=quota.limit_requests or s.header_requests,
            header_tokens=quota.limit_tokens or s.header_tokens,
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
        )

    def _settle(self, rpm: float | None) -> float:
        """Seconds after a change of rate until what is sent is the new rate (the limiter's burst)."""
        burst = self.limiter.burst
        return min(1.0, burst / (rpm / 60.0)) if rpm and burst else 0.0

    def _measured_rpm(self, now: float, min_samples: int) -> float | None:
        """Successes per minute over the last couple of seconds (None with fewer than ``min_samples``)."""
        recent = [t for t in self._successes if t > now - _MEASURE_WINDOW]
        if not recent or len(recent) < min_samples:
            return None
        if len(recent) == 1:
            return 60.0 / max(now - recent[0], 0.25)
        return (len(recent) - 1) / max(recent[-1] - recent[0], 0.25) * 60.0

    def _apply(self, s: AdaptiveState, *, force: bool = False) -> None:
        """Push the state's knobs to the limiter and the gate (the limiter only when a rate moved)."""
        if abs(self.gate.limit - s.concurrency) > 1e-9:
            self.gate.limit = max(1.0, s.concurrency)
        rates = (s.requests_per_minute, s.tokens_per_minute)
        if force or rates != self._applied:
            first_rate = self._applied[0] is None and rates[0] is not None
            self._applied = rates
            self.limiter.set_rates(requests_per_minute=rates[0], tokens_per_minute=rates[1])
            if first_rate and self.limiter.shared is None:
                # The calls in flight went out before there was a rate: they spent the provider's burst.
                # Booked now, they keep the limiter's own burst from adding to them (the 429s a quota
                # learned from the first answers used to cost, and the cut after them).
                for _ in range(self.gate.in_flight):
                    self.limiter.reserve()


def _cap(value: float | None, *caps: float | None) -> float | None:
    """``value`` limited by every cap that is set (None value stays None)."""
    if value is None:
        return None
    for cap in caps:
        if cap is not None:
            value = min(value, cap)
    return value
