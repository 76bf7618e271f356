"""Where a fake batch stands at a moment: its phase, its timestamps and how many of its requests are done.

A batch lives on a clock (unix seconds, virtual in tests): ``validating`` for ``timings.validating``
seconds, then ``in_progress`` for ``timings.in_progress`` seconds (its requests finish evenly over that
span, in file order), then ``finalizing``, then ``completed``. A cancel moves it to ``cancelling`` then
``cancelled``; a completion window shorter than the work makes it ``expired`` at the window's end. Either
way the requests done by then keep their results and the others get none. Everything here is a pure
function of the clock, so tests can step a virtual clock and read the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from kagura._checks import check_seconds

__all__ = ["BatchProgress", "BatchTimings", "ManualClock", "progress_at"]

#: phases after which nothing changes any more
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})


class ManualClock:
    """A clock that moves only when told: ``clock()`` is the time, ``clock.advance(seconds)`` moves it.

    Pass it as ``BatchSettings(clock=...)`` to step a fake server's batches through their phases.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        check_seconds("ManualClock.advance(seconds)", seconds)
        self.now += seconds
        return self.now


@dataclass(frozen=True)
class BatchTimings:
    """Seconds each phase of a fake batch lasts, and its completion window (OpenAI's ``24h``).

    A batch runs ``in_progress + per_request x its requests`` seconds: ``per_request`` makes a provider
    whose batches take longer the more they hold (a smaller batch finishes sooner)."""

    validating: float = 0.0
    in_progress: float = 1.0
    finalizing: float = 0.0
    cancelling: float = 0.0
    completion_window: float = 24 * 3600.0
    per_request: float = 0.0

    def running(self, total: int) -> float:
        """Seconds a batch of ``total`` requests spends in progress."""
        return self.in_progress + self.per_request * total

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            check_seconds(f"BatchTimings.{f.name}", value)
        check_seconds("BatchTimings.completion_window", self.completion_window, allow_zero=False)


@dataclass
class BatchProgress:
    """A batch's state at one moment: OpenAI ``status``, requests ``done``, and the phase timestamps."""

    status: str
    done: int
    timestamps: dict[str, float] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def _done_at(t: float, start: float, span: float, total: int) -> int:
    """Requests finished by ``t`` when ``total`` of them finish evenly over ``[start, start + span]``."""
    if t < start:
        return 0
    if span <= 0 or t >= start + span:
        return total
    return min(total, math.floor(total * (t - start) / span + 1e-9))


def progress_at(
    now: float, created: float, total: int, timings: BatchTimings, cancel_at: float | None = None
) -> BatchProgress:
    """Where a batch of ``total`` requests created at ``created`` stands at ``now``."""
    v_end = created + timings.validating
    span = timings.running(total)
    p_end = v_end + span
    f_end = p_end + timings.finalizing
    expiry = created + timings.completion_window
    stop: tuple[str, float] | None = None
    if cancel_at is not None and cancel_at < f_end and (expiry >= p_end or cancel_at < expiry):
        stop = ("cancel", cancel_at)
    elif expiry < p_end:
        stop = ("expire", expiry)
    horizon = now if stop is None else min(now, stop[1])
    stamps: dict[str, float] = {"created_at": created, "expires_at": expiry}
    for name, at in (("in_progress_at", v_end), ("finalizing_at", p_end), ("completed_at", f_end)):
        if horizon >= at and (stop is None or at < stop[1]):
            stamps[name] = at
    done = _done_at(min(horizon, p_end), v_end, span, total)
    if stop is not None and now >= stop[1]:
        if stop[0] == "expire":
            stamps["expired_at"] = expiry
            return BatchProgress("expired", done, stamps)
        stamps["cancelling_at"] = stop[1]
        if now < stop[1] + timings.cancelling:
            return BatchProgress("cancelling", done, stamps)
        stamps["cancelled_at"] = stop[1] + timings.cancelling
        return BatchProgress("cancelled", done, stamps)
    if now < v_end:
        status = "validating"
    elif now < p_end:
        status = "in_progress"
    elif now < f_end:
        status = "finalizing"
    else:
        status = "completed"
    return BatchProgress(status, done, stamps)
