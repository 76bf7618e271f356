"""Saying so when adaptive control holds calls back for long (a log warning, and a line for progress)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

__all__ = ["HOLD_NOTICE", "HoldNotice"]

log = logging.getLogger("kagura.llm")
HOLD_NOTICE = 10.0  # seconds of waiting for admission worth telling the user about
_WARN_EVERY = 60.0  # seconds between two warnings; a hold older than half of this is over


class HoldNotice:
    """Records long waits for admission; warns at most once a minute; :attr:`line` while it lasts."""

    __slots__ = ("_clock", "_last", "_warned_at")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last: tuple[float, str] | None = None  # (when, what) of the last long hold
        self._warned_at = -math.inf

    def note(self, seconds: float, rpm: float | None, concurrency: float) -> None:
        """A call waited ``seconds`` while the controller allowed ``rpm`` (None: no rate) and
        ``concurrency`` calls in flight."""
        if seconds < HOLD_NOTICE:
            return
        now = self._clock()
        rate = f"{rpm:.0f} RPM" if rpm is not None else f"{concurrency:.0f} in flight"
        self._last = (now, f"LLM calls held back {seconds:.0f} s by adaptive rate control (now {rate})")
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning(
                "kagura llm: %s after 429s from the provider; if its 429s do not depend on the rate, "
                "pass adaptive=False or set a budget",
                self._last[1],
            )

    @property
    def line(self) -> str | None:
        """What is being held back, while it is (None once no long wait was seen for a while)."""
        if self._last is None or self._clock() - self._last[0] > _WARN_EVERY / 2:
            return None
        return self._last[1]
