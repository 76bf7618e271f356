"""The dollar cap on the batch path: each chunk's worst case at Batch prices is reserved before the chunk is
submitted, and settled on what its results really cost once they are collected.

It builds on the job's cap through two parts only, so the cap's home may move without touching this file:

- ``cap``: anything with ``async reserve(usd) -> bool`` and ``async settle(reserved, actual)`` (today
  :class:`~kagura.jobs.SpendCap` / :class:`~kagura.jobs.RedisSpendCap`, the same object the online path
  reserves on, so a batch's reservation and the online calls share one cap);
- ``worst_of(model, body)``: a call's worst case at online prices (``None``: unknown), scaled here by the
  model's ``batch`` factor in the client's :class:`~kagura.core.llm.PriceTable`.

A chunk that does not fit is halved until a prefix of it does; when not even one request fits, the
batch path is *over budget* and submits nothing more. Batches found already submitted (a resumed job) are
counted without a check: they are going to be billed whatever the cap says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from kagura.core.llm import PriceTable
from kagura.core.llm.batches import BatchRequest

__all__ = ["BatchSpend", "Cap"]


class Cap(Protocol):
    """What the batch path needs of a dollar cap."""

    async def reserve(self, usd: float) -> bool: ...

    async def settle(self, reserved: float, actual: float) -> None: ...


WorstOf = Callable[[str, dict[str, Any]], "float | None"]


class BatchSpend:
    """Reservations of one run's batches under ``cap`` (``None``: no cap; every method is then free)."""

    def __init__(self, cap: Cap | None, worst_of: WorstOf | None, prices: PriceTable | None) -> None:
        if cap is not None and (worst_of is None or prices is None):
            raise ValueError("a dollar cap on batches needs worst_of and a price table")
        self.cap, self.worst_of, self.prices = cap, worst_of, prices
        self.reserved: dict[int, float] = {}
        """Dollars held per chunk until its results are collected."""

    def worst(self, request: BatchRequest) -> float | None:
        """The most ``request`` can cost through the Batch API (``None``: no price for its model)."""
        assert self.worst_of is not None and self.prices is not None
        model = str(request.body.get("model", ""))
        worst = self.worst_of(model, dict(request.body))
        price = self.prices.price(model)
        return None if worst is None or price is None else worst * price.batch

    async def take(self, requests: Sequence[BatchRequest]) -> tuple[list[BatchRequest], float]:
        """A prefix of ``requests`` (all of them, else halved until one fits) whose worst case the cap
        admits, reserved, and its dollars; ``([], 0.0)`` when not even the first one fits."""
        if self.cap is None:
            return list(requests), 0.0
        worsts: list[float] = []
        for request in requests:
            worst = self.worst(request)
            if worst is None:  # an unpriced request cannot be capped: stop before it
                break
            worsts.append(worst)
        high = len(worsts)
        while high:
            wanted = sum(worsts[:high])
            if await self.cap.reserve(wanted):
                return list(requests[:high]), wanted
            high //= 2  # halve until a prefix fits, or none does
        return [], 0.0

    def book(self, chunk: int, usd: float) -> None:
        """``usd`` taken by :meth:`take` is now ``chunk``'s."""
        if self.cap is not None:
            self.reserved[chunk] = self.reserved.get(chunk, 0.0) + usd

    async def hold(self, chunk: int, requests: Sequence[BatchRequest]) -> None:
        """Count a batch already submitted (found on resume) without a check."""
        if self.cap is None or chunk in self.reserved:
            return
        worst = sum(self.worst(request) or 0.0 for request in requests)
        await self.cap.settle(0.0, worst)  # settle from nothing: held whatever the cap's room
        self.reserved[chunk] = worst

    async def release(self, usd: float) -> None:
        """Give back dollars taken for a chunk that was never made."""
        if self.cap is not None and usd:
            await self.cap.settle(usd, 0.0)

    async def settle(self, chunk: int, actual: float) -> None:
        """``chunk``'s results are in: its reservation becomes what they cost."""
        if self.cap is None:
            return
        await self.cap.settle(self.reserved.pop(chunk, 0.0), actual)
