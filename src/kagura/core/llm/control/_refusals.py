"""Do the provider's 429s depend on our rate? The test adaptive control runs before lowering it again.

Providers answer 429 for two different reasons: the caller is over its quota (sending slower helps), or
the provider is short of capacity for a moment (sending slower changes nothing: a fixed share of requests
is refused at any rate). Lowering the rate on every 429 of the second kind starves a job: the rate falls
by a constant factor every few requests and never climbs back.

So the controller treats each decrease as an experiment. :class:`RefusalTest` keeps the outcomes of the
attempts *sent since the last change of rate* (an epoch, from ``settle`` seconds after the change: until
the limiter's burst has drained, the rate sent is not yet the new one); on the next 429 it gives a verdict:

- ``DECREASE``: the first 429 ever, or the share of 429s is above the level already shown not to depend on
  the rate, and the last decrease did lower that share (or nearly everything is refused): lower again.
- ``HOLD``: too few outcomes since the last change to judge (:data:`MIN_OUTCOMES`, unless the share
  already fell by more than chance allows), or the share is at the rate-independent level: keep the rate.
  A decrease that lowered the share is settled after a few more outcomes; the next 429 then lowers
  the rate again at once (the quota fell, say) and starts a new test.
  A share clearly *higher* after a cut also lowers again: the share before it was measured while the
  provider's bucket was still full (its initial burst).
- ``RECOVER``: the last decrease left the share about where it was: the refusals do not depend on the
  rate. The rate goes back to what it was before the cuts not yet shown to help (its floor: the rate
  that was succeeding just as well), and the share measured becomes the tolerated level: later 429s
  lower the rate only when their share rises above it (a real quota binding on top).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

__all__ = ["MIN_OUTCOMES", "RateTried", "RefusalTest", "Verdict"]

MIN_OUTCOMES = 8  # outcomes at a new rate before its share of 429s is compared with the previous one
_WINDOW = 64  # the share is measured over at most this many recent outcomes of the epoch
_LOWERED = 0.7  # a decrease "lowered the share" when the new share is below this much of the old one
_SAME = 0.85  # ... and left it where it was when the new share is at least this much of the old one
_MAJORITY = 0.5  # refusals of capacity are a minority: a share above this is taken for a quota
_OVERLOAD = 0.9  # a share this high keeps lowering (nothing gets through: no evidence either way)
_TOLERANCE = 1.5  # a share above tolerated x this (+ _SLACK) is more than the rate-independent refusals
_SLACK = 0.03
_EVIDENCE = 0.05  # a share this improbable under "the cut changed nothing" proves that it did
_CONCLUDE = 2 * MIN_OUTCOMES  # outcomes after which a decrease that lowered the share is settled


class Verdict(Enum):
    DECREASE = "decrease"
    HOLD = "hold"
    RECOVER = "recover"


@dataclass(frozen=True, slots=True)
class RateTried:
    """The rates in force before a decrease, and the share of 429s measured at them."""

    share: float
    outcomes: int  # how many outcomes that share was measured over
    requests_per_minute: float | None
    tokens_per_minute: float | None


class RefusalTest:
    """Outcomes per epoch (attempts sent since the last change of rate) and the verdict on a 429."""

    __slots__ = ("_outcomes", "epoch_start", "origin", "recovered", "tested", "tolerated")

    def __init__(self) -> None:
        self.epoch_start = -math.inf
        self._outcomes: deque[bool] = deque(maxlen=_WINDOW)  # True = refused (429)
        self.tested: RateTried | None = None  # the rates before the decrease now under test
        self.origin: RateTried | None = None  # the rates before the first of the cuts not yet settled
        self.tolerated = 0.0  # the share of 429s shown not to depend on the rate
        self.recovered = 0  # how many times refusals turned out rate-independent

    def record(self, started: float | None, refused: bool) -> None:
        """One attempt's outcome (``started``: when it was sent; None counts it in the current epoch)."""
        if started is None or started >= self.epoch_start:
            self._outcomes.append(refused)
        tested = self.tested
        if tested is not None and self.outcomes >= _CONCLUDE and self.share < tested.share * _LOWERED:
            self.tested = self.origin = None  # the cut helped: settled (a later 429 starts a new test)

    @property
    def outcomes(self) -> int:
        return len(self._outcomes)

    @property
    def share(self) -> float:
        """The share of 429s among this epoch's outcomes (0 with none)."""
        return sum(self._outcomes) / len(self._outcomes) if self._outcomes else 0.0

    def _above_tolerated(self, share: float) -> bool:
        return share > self.tolerated * _TOLERANCE + _SLACK

    def verdict(self) -> Verdict:
        """What a 429 arriving now should do to the rate (see the module docstring)."""
        share, enough = self.share, self.outcomes >= MIN_OUTCOMES
        if self.tested is None:  # no decrease under test
            if self.tolerated == 0.0 and self.recovered == 0:
                return Verdict.DECREASE  # nothing known yet: the first 429 is taken at its word
            return Verdict.DECREASE if enough and self._above_tolerated(share) else Verdict.HOLD
        refused, n, before = sum(self._outcomes), self.outcomes, self.tested.share
        if n >= 3 and refused == n:  # still nothing gets through at the lowered rate
            return Verdict.DECREASE
        if n >= 2 and self.tested.outcomes >= MIN_OUTCOMES and _below(refused, n, before) < _EVIDENCE:
            # already clear (a small quota gives few outcomes a second): the cut lowered the share
            return Verdict.DECREASE if self._above_tolerated(share) else Verdict.HOLD
        if not enough:
            return Verdict.HOLD
        if share >= _OVERLOAD or self.tested.outcomes < MIN_OUTCOMES:
            # nearly all refused, or the share before the cut was measured over too few outcomes (the
            # first cut, often taken during the provider's initial burst): lower again, and test that
            return Verdict.DECREASE if self._above_tolerated(share) else Verdict.HOLD
        if share > self.tested.share * _TOLERANCE + _SLACK:
            # worse after the cut: what was measured before it was the provider's initial burst (its
            # bucket was full), not the rate's steady share: lower again, and test that
            return Verdict.DECREASE
        if share >= self.tested.share * _SAME:
            # the share stayed: rate-independent, unless most requests are refused (then the 15 % cut
            # was too small to show: a quota far above, as after the provider's initial burst)
            return Verdict.RECOVER if self.tested.share < _MAJORITY else Verdict.DECREASE
        if share < self.tested.share * _LOWERED:
            return Verdict.DECREASE if self._above_tolerated(share) else Verdict.HOLD
        return Verdict.HOLD  # in between: more outcomes will tell

    def decreased(self, now: float, before: RateTried, settle: float = 0.0) -> None:
        """The rate was just lowered from ``before``: a new epoch, from ``settle`` seconds on, tests it."""
        self.tested = before
        if self.origin is None:
            self.origin = before
        self._new_epoch(now + settle)

    def recover(self, now: float, settle: float = 0.0) -> RateTried:
        """The decrease under test changed nothing: returns the rates to go back to (those before the
        first of the cuts not settled since: none of them is known to have helped)."""
        assert self.tested is not None
        tried, back = self.tested, self.origin or self.tested
        self.tolerated = max(self.tolerated, min(self.share, tried.share))
        self.recovered += 1
        self.tested = self.origin = None
        self._new_epoch(now + settle)
        return back

    def reset(self) -> None:
        """Forget everything (a new budget)."""
        self.tested = self.origin = None
        self.tolerated = 0.0
        self.recovered = 0
        self._new_epoch(-math.inf)

    def _new_epoch(self, start: float) -> None:
        self.epoch_start = start
        self._outcomes.clear()


def _below(refused: int, n: int, share: float) -> float:
    """The chance of at most ``refused`` 429s in ``n`` outcomes if each is refused with ``share``."""
    return sum(math.comb(n, k) * share**k * (1 - share) ** (n - k) for k in range(refused + 1))
