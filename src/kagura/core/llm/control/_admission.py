"""What one call of an :class:`~kagura.core.llm.LLMClient` waits for before each attempt, and what it
gives back after: a concurrency slot (adaptive), the limiters in scope, the client's own limiter, then
the worst case of the attempt reserved under the spend cap; after the attempt, the slot is freed, the
controller told, the token estimate reconciled and the reservation settled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kagura._checks import check_bool
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._request import shared_budget_key
from kagura.core.llm._types import Usage
from kagura.core.llm.control._adaptive import AdaptiveController
from kagura.core.llm.control._adaptive_state import AdaptiveStore
from kagura.core.llm.control._spend import SpendCap
from kagura.core.parallel import RateLimiter, admit_in_scope
from kagura.errors import AuthenticationError, BudgetExceededError, ConfigurationError, RateLimitedError

__all__ = ["Admission", "build_controls"]

_NEVER_BILLED = (RateLimitedError, AuthenticationError, ConfigurationError)
"""Failures the provider refused before doing any work: their reservation is given back whole."""


class Admission:
    """The admission of one call (all its attempts, one at a time).

    The slot comes first so that every budget is booked when the call is about to start: a call queued at
    the gate must neither skip a rate learned meanwhile nor have been counted by a budget long before it
    leaves (a scheduler's admission of the item that went stale while the call waited here is not used:
    the call books anew). The dollars are reserved last, just before the attempt leaves, so a call waiting
    for its rate holds no money; a refusal frees the slot and raises :class:`BudgetExceededError`.
    """

    __slots__ = ("controller", "gate", "limiter", "reserved", "spend", "worst_usd")
    admits_scope = True  # call_with_retry leaves the limiters in scope to acquire()

    def __init__(
        self,
        limiter: RateLimiter,
        controller: AdaptiveController | None,
        spend: SpendCap | None = None,
        worst_usd: float = 0.0,
    ) -> None:
        self.limiter, self.controller = limiter, controller
        self.gate = controller.gate if controller is not None else None
        self.spend, self.worst_usd = spend, worst_usd
        self.reserved = 0.0
        """The dollars the attempt in flight holds under the spend cap."""

    async def acquire(self, tokens: int = 0) -> None:
        if self.gate is None or self.controller is None:
            await admit_in_scope(tokens, own=(self.limiter,), fresh=True)
            await self.limiter.acquire(tokens)
            if self.spend is not None:
                await self._reserve()
            return
        clock = self.controller.clock
        asked = clock()
        await self.gate.acquire()
        try:
            waited = clock() - asked  # what adaptive control held back: the slot, then our own rate
            await admit_in_scope(tokens, own=(self.limiter,), fresh=True)
            asked = clock()
            await self.limiter.acquire(tokens)
            if self.spend is not None:
                await self._reserve()
        except BaseException:
            self.gate.release()
            raise
        self.controller.note_wait(waited + clock() - asked)

    async def _reserve(self) -> None:
        assert self.spend is not None
        if not await self.spend.reserve(self.worst_usd):
            raise BudgetExceededError(
                f"spend cap reached: this call's worst case (${self.worst_usd:.6f}) would pass the cap "
                f"of ${self.spend.limit_usd:g}"
            )
        self.reserved = self.worst_usd

    def finish(
        self,
        *,
        error: BaseException | None = None,
        started: float | None = None,
        estimate: int = 0,
        usage: Usage | None = None,
        success: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """After one attempt: free its slot, tell the controller, reconcile the token estimate."""
        if self.gate is not None:
            self.gate.release()
        controller = self.controller
        if controller is not None:
            if success:
                controller.on_success(dict(headers) if headers else None, started)
            elif error is not None:
                controller.on_failure(error, started)
        if success and usage is not None and usage.total_tokens > 0:
            if self.limiter.tokens_per_minute is not None:
                self.limiter.adjust(usage.total_tokens - estimate)

    async def settle(self, *, cost_usd: float | None = None, error: BaseException | None = None) -> None:
        """Settle the attempt's reservation: on ``cost_usd`` (its priced usage), on 0 when the provider
        refused it (429, 401/403, set-up errors), else keep it (a timeout may have been billed)."""
        if self.spend is None or not self.reserved:
            return
        reserved, self.reserved = self.reserved, 0.0
        if error is not None:
            if isinstance(error, _NEVER_BILLED):
                await self.spend.settle(reserved, 0.0)
            return
        await self.spend.settle(reserved, reserved if cost_usd is None else cost_usd)


def build_controls(
    config: LLMConfig,
    limiter: RateLimiter | None,
    adaptive: bool | None,
    store: AdaptiveStore | None,
    clock: Callable[[], float],
) -> tuple[RateLimiter, AdaptiveController | None]:
    """A client's limiter (default: from the config's budget, in Redis when ``config.redis_url``) and
    adaptive controller (None when ``adaptive`` is off; its learned state in Redis likewise)."""
    shared = config.redis_url or None  # one budget and one learned state for every process
    if limiter is None:
        key = shared_budget_key(config) if shared else None
        limiter = RateLimiter(
            config.requests_per_minute, config.tokens_per_minute, clock=clock, redis=shared, key=key
        )
    elif not isinstance(limiter, RateLimiter):
        raise TypeError(f"limiter must be a kagura RateLimiter, got {type(limiter).__name__}")
    adaptive = config.adaptive if adaptive is None else adaptive
    check_bool("adaptive", adaptive)
    if not adaptive:
        return limiter, None
    if store is None and shared:
        from kagura.core.llm.control._adaptive_redis import RedisAdaptiveState

        seed = AdaptiveController.initial_state(
            limiter, limiter.requests_per_minute, limiter.tokens_per_minute
        )
        store = RedisAdaptiveState(shared, shared_budget_key(config), seed, clock=clock)
    controller = AdaptiveController(
        limiter,
        ceiling_rpm=limiter.requests_per_minute,
        ceiling_tpm=limiter.tokens_per_minute,
        clock=clock,
        store=store,
    )
    return limiter, controller
