"""A hard cap in dollars: reserve a call's worst case before it starts, settle on what it really cost.

::

    cap = SpendCap(10.0, spent=ledger_total)        # one process
    cap = RedisSpendCap(10.0, "redis://...", key)   # every process of the job, through Redis
    if await cap.reserve(worst):                    # False: this call would pass the cap, do not start it
        ...; await cap.settle(worst, actual)

Reservations never exceed the cap, and a settled call never costs more than its reservation when the
reservation is its worst case (prompt + ``max_tokens`` at the model's prices), so the spend never passes
the cap. On Redis the check and the reservation are one script, so processes cannot race past it; a process
killed between reserve and settle leaves its reservation counted (the cap errs on the safe side).
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["RedisSpendCap", "SpendCap"]


def _check(limit_usd: float, spent: float) -> None:
    for name, value in (("budget", limit_usd), ("spent", spent)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"{name} must be a finite number of dollars >= 0, got {value!r}")


class SpendCap:
    """The cap of one process: ``limit_usd``, of which ``spent`` is already gone (earlier runs)."""

    def __init__(self, limit_usd: float, *, spent: float = 0.0) -> None:
        _check(limit_usd, spent)
        self.limit_usd = float(limit_usd)
        self.committed = float(spent)
        """Dollars settled plus dollars reserved by calls in flight."""
        self._lock = asyncio.Lock()

    async def reserve(self, usd: float) -> bool:
        """Hold ``usd`` for a call; False (nothing held) when that would pass the cap."""
        if usd < 0:
            raise ValueError(f"a reservation must be >= 0 dollars, got {usd!r}")
        async with self._lock:
            if self.committed + usd > self.limit_usd:
                return False
            self.committed += usd
            return True

    async def settle(self, reserved: float, actual: float) -> None:
        """Replace a reservation by the call's real cost (0 for a call that was never billed)."""
        async with self._lock:
            self.committed += actual - reserved

    async def aclose(self) -> None:
        """Nothing to close locally."""


_RESERVE = """
local current = tonumber(redis.call('GET', KEYS[1]) or ARGV[3])
local wanted = tonumber(ARGV[1])
if current + wanted > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], tostring(current + wanted), 'EX', 604800)
return 1
"""


class RedisSpendCap(SpendCap):
    """One cap for every process of a job: the committed dollars live at ``key`` in Redis (seeded with
    ``spent`` by the first process; kept 7 days). Extra ``kagura[redis]``."""

    def __init__(self, limit_usd: float, url: str, key: str, *, spent: float = 0.0) -> None:
        super().__init__(limit_usd, spent=spent)
        from kagura._extras import import_optional

        redis = import_optional("redis.asyncio", "a budget shared through Redis")
        self.key = key
        self._redis = redis.from_url(url)
        self._script = self._redis.register_script(_RESERVE)

    async def reserve(self, usd: float) -> bool:
        if usd < 0:
            raise ValueError(f"a reservation must be >= 0 dollars, got {usd!r}")
        taken = await self._script(
            keys=[self.key], args=[repr(usd), repr(self.limit_usd), repr(self.committed)]
        )
        return bool(taken)

    async def settle(self, reserved: float, actual: float) -> None:
        await self._redis.incrbyfloat(self.key, actual - reserved)

    async def aclose(self) -> None:
        await self._redis.aclose()
