"""Retries: a policy object and the one attempt loop every entry point uses.

Backoff is exponential with "full jitter" (a uniform draw in ``[0, min(max_delay, base * 2**n)]``), which
spreads retries of many items instead of synchronising them. When the error carries ``retry_after`` (a
server's ``Retry-After``), that delay is a *floor*, not a meeting time: many calls rejected together all
read the same ``Retry-After``, and retrying them all at that instant would be rejected together again (a
retry stampede). So the wait is ``retry_after`` plus a uniform draw in ``[0, spread]`` with
``spread = min(max_delay, max(retry_after / 2, base_delay))``, and the retry then goes through the
limiters like any attempt, so re-admission also respects the budget. ``jitter=False`` waits exactly
``retry_after``.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from kagura._cancel import cancels, raise_if_cancelled_since
from kagura._checks import check_bool, check_int, check_seconds
from kagura.core.parallel.budgets._scope import admit_in_scope, scope
from kagura.errors import KaguraTimeoutError, RetryableError

if TYPE_CHECKING:
    from kagura.core.parallel.budgets._limits import Limiter

__all__ = ["RetryPolicy", "call_with_retry"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a failed call.

    - ``max_attempts``: total attempts including the first (1 means never retry).
    - ``base_delay`` / ``max_delay``: backoff before retry ``n`` (1-based) is at most
      ``min(max_delay, base_delay * 2 ** (n - 1))`` seconds; with ``jitter`` a uniform draw below that.
    - ``retry_on``: exception classes worth retrying; by default kagura's ``RetryableError`` (rate limits,
      timeouts, 5xx, dropped connections). Anything else fails at once.

    An error's ``retry_after`` attribute, when not None, replaces the computed backoff: the retry waits at
    least that long, plus jitter (see the module docstring) so rejected calls do not return together. A
    server asking for more than ``max_retry_after`` seconds (a daily quota, say) is not retried at all:
    the error is raised at once instead of stalling the run; ``None`` waits however long the server asks.
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True
    retry_on: tuple[type[BaseException], ...] = (RetryableError,)
    max_retry_after: float | None = 300.0

    def __post_init__(self) -> None:
        check_int("max_attempts", self.max_attempts, hint=" (1 means no retry)")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            allow_none = name == "max_retry_after"
            object.__setattr__(self, name, check_seconds(name, getattr(self, name), allow_none=allow_none))
        check_bool("jitter", self.jitter)
        retry_on = self.retry_on
        if isinstance(retry_on, type):  # be kind: RetryPolicy(retry_on=MyError)
            retry_on = (retry_on,)
            object.__setattr__(self, "retry_on", retry_on)
        if not isinstance(retry_on, tuple) or not all(
            isinstance(cls, type) and issubclass(cls, BaseException) for cls in retry_on
        ):
            raise TypeError(f"retry_on must be a tuple of exception classes, got {retry_on!r}")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """True if ``error`` from attempt number ``attempt`` (1-based) deserves another attempt."""
        if attempt >= self.max_attempts or not isinstance(error, self.retry_on):
            return False
        retry_after = _retry_after(error)
        return retry_after is None or self.max_retry_after is None or retry_after <= self.max_retry_after

    def delay(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one."""
        retry_after = _retry_after(error)
        if retry_after is not None:
            if not self.jitter:
                return retry_after
            spread = min(self.max_delay, max(retry_after / 2.0, self.base_delay))
            return retry_after + random.uniform(0.0, spread)
        cap = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return random.uniform(0.0, cap) if self.jitter else cap


def _retry_after(error: BaseException | None) -> float | None:
    """The delay the error says to wait (a server's ``Retry-After``), when it says a usable one."""
    retry_after = getattr(error, "retry_after", None)
    if (
        isinstance(retry_after, int | float)
        and not isinstance(retry_after, bool)
        and 0 <= retry_after < math.inf
    ):
        return float(retry_after)
    return None


DEFAULT_POLICY = RetryPolicy()


async def attempt(
    factory: Callable[[], Awaitable[T]],
    timeout: float | None,  # noqa: ASYNC109 - per-attempt timeout is the point of this function
) -> T:
    """One attempt, its timeout translated into kagura's retryable :class:`KaguraTimeoutError`."""
    if timeout is None:
        return await factory()
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await factory()
    except TimeoutError:
        if not deadline.expired():
            raise  # a TimeoutError of the callee's own, not ours
        raise KaguraTimeoutError(f"timed out after {timeout} s") from None


async def run_attempts(
    factory: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None,
    timeout: float | None,  # noqa: ASYNC109
    limiters: tuple[Limiter, ...] = (),
    tokens: int = 0,
    counter: list[int] | None = None,
) -> T:
    """Acquire the limiters, make an attempt, and retry per ``policy``; ``counter[0]`` counts attempts."""
    n = 0
    cancelled_before = cancels()
    while True:
        n += 1
        if counter is not None:
            counter[0] = n
        # the budgets of the runs around this (unless a limiter of ours admits through them itself)
        admitted = (
            ()
            if any(getattr(lim, "admits_scope", False) for lim in limiters)
            else (await admit_in_scope(tokens, own=limiters))
        )
        for limiter in limiters:
            if not any(limiter is done for done in admitted):
                await limiter.acquire(tokens)
        try:
            if not limiters:
                return await attempt(factory, timeout)
            with scope(limiters, admitted=True):  # attempt loops inside pass these budgets too
                return await attempt(factory, timeout)
        except Exception as exc:
            # the task was asked to stop and something below turned that into an error: stop, never retry
            raise_if_cancelled_since(cancelled_before, exc)
            if policy is None or not policy.should_retry(exc, n):
                raise
            await asyncio.sleep(policy.delay(n, exc))


def check_timeout(timeout: object) -> float | None:
    """Validate a per-call timeout argument: finite seconds > 0, or None."""
    return check_seconds("timeout", timeout, allow_zero=False, allow_none=True)


async def call_with_retry(
    factory: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - part of the public contract
    *,
    limiters: Iterable[Limiter] = (),
    tokens: int = 0,
) -> T:
    """Call ``factory()`` and await it, retrying per ``policy`` (default :class:`RetryPolicy()`).

    ``factory`` must build a fresh awaitable each time (a coroutine can be awaited only once), e.g.
    ``lambda: client.get(url)``. ``timeout`` bounds each attempt and raises the retryable
    :class:`~kagura.errors.KaguraTimeoutError`. Before each attempt every limiter in ``limiters`` is
    acquired for ``tokens`` tokens (waiting for budget does not count against the timeout), and so is
    every limiter in scope (those of a ``parallel_map`` whose item this runs in, see
    :mod:`kagura.core.parallel.budgets._scope`). The last
    error is raised when attempts run out or the error is not retryable.
    """
    if not callable(factory):
        raise TypeError(
            f"call_with_retry needs a zero-argument callable that returns a new awaitable, got "
            f"{type(factory).__name__}; wrap a coroutine call as `lambda: fetch(x)`"
        )
    if policy is None:
        policy = DEFAULT_POLICY
    elif not isinstance(policy, RetryPolicy):
        raise TypeError(f"policy must be a RetryPolicy or None, got {type(policy).__name__}")
    return await run_attempts(factory, policy, check_timeout(timeout), check_limiters(limiters), tokens)


def check_limiters(limiters: object) -> tuple[Limiter, ...]:
    """Validate a ``limiters`` argument: an iterable of objects with ``async acquire(tokens)``."""
    if limiters is None:
        return ()
    if hasattr(limiters, "acquire"):  # a single limiter passed bare
        limiters = (limiters,)
    if not isinstance(limiters, Iterable):
        raise TypeError(
            f"limiters must be a sequence of RateLimiter-like objects, got {type(limiters).__name__}"
        )
    result: tuple[Limiter, ...] = tuple(limiters)  # type: ignore[assignment]  # checked just below
    for lim in result:
        if not callable(getattr(lim, "acquire", None)):
            raise TypeError(
                "each limiter needs an `async acquire(tokens)` method (e.g. RateLimiter), "
                f"got {type(lim).__name__}"
            )
    return result
