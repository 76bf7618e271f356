"""One budget dimension as a GCRA token bucket (the "meter" a :class:`RateLimiter` combines).

GCRA, the generic cell rate algorithm, is a token bucket kept as a single number. For a rate of ``r``
units per second and a capacity of ``b`` units, the *emission interval* is ``e = 1 / r`` and the state is
the *theoretical arrival time* ``tat``: the moment the bucket will be full again if nothing more is spent
(``-inf`` = full now). At time ``t`` the bucket holds ``b - max(0, tat - t) / e`` units.

A request of ``n`` units fits from ``tat + min(n, b) * e - b * e`` on (the bucket then holds at least
``min(n, b)``); booking it at ``admit`` moves ``tat`` to ``max(tat, admit) + n * e``. A request larger
than the bucket waits until the bucket is full and is then charged in full: the debt is paid by whoever
comes next waiting longer, so the long-run rate stays exact and nothing ever raises.

Not thread-safe on its own: the owning limiter holds the lock.
"""

from __future__ import annotations

__all__ = ["Bucket"]


class Bucket:
    """A GCRA token bucket: ``rate`` units per second, at most ``capacity`` units at once."""

    __slots__ = ("capacity", "interval", "tat")

    def __init__(self, rate: float, capacity: float) -> None:
        self.interval = 1.0 / rate  # seconds per unit (the emission interval)
        self.capacity = capacity
        self.tat = float("-inf")  # theoretical arrival time: the bucket is full from then on

    @property
    def rate(self) -> float:
        """Units refilled per second."""
        return 1.0 / self.interval

    def earliest(self, units: float) -> float:
        """The earliest time at which ``units`` fit (may be in the past: then they fit now)."""
        return self.tat - (self.capacity - min(units, self.capacity)) * self.interval

    def book(self, units: float, admit: float) -> None:
        """Spend ``units`` at ``admit`` (not earlier than :meth:`earliest` said)."""
        self.tat = max(self.tat, admit) + units * self.interval

    def used(self, now: float) -> float:
        """Units spent and not yet refilled at ``now``; above ``capacity`` while later bookings wait."""
        return max(0.0, self.tat - now) / self.interval

    def refund(self, units: float, now: float) -> float:
        """Give ``units`` back, but never more credit than a full bucket; returns the units given back."""
        if self.tat <= now:
            return 0.0
        before = self.tat
        self.tat = max(now, self.tat - units * self.interval)
        return (before - self.tat) / self.interval

    def charge(self, units: float, now: float) -> None:
        """Spend ``units`` more right now (after the fact: this can push later bookings back)."""
        self.tat = max(self.tat, now - self.capacity * self.interval) + units * self.interval

    def retime(self, rate: float, capacity: float, now: float) -> None:
        """Change rate and capacity, keeping what is spent: the units still owed now pay at the new rate."""
        owed = self.used(now)
        self.interval = 1.0 / rate
        self.capacity = capacity
        if owed > 0:
            self.tat = now + owed * self.interval
