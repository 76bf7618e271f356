"""Budgets of the default clients: ``configure_rate_limit``, ``limiter_for``, ``reset_rate_limits``.

Kept for code written before :class:`~kagura.core.llm.LLMClient`: they act on the default client of the
endpoint ``config`` goes to (see :mod:`kagura.core.llm._defaults`). New code can hold an ``LLMClient``
and call :meth:`~kagura.core.llm.LLMClient.set_budget`.
"""

from __future__ import annotations

from collections.abc import Callable

from kagura.core.llm._config import LLMConfig
from kagura.core.llm._defaults import default_clients
from kagura.core.parallel import RateLimiter

__all__ = ["configure_rate_limit", "holding_back", "limiter_for", "reset_rate_limits"]


def configure_rate_limit(
    config: LLMConfig,
    *,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    clock: Callable[[], float] | None = None,
) -> RateLimiter:
    """Set the budget shared by every call going where ``config`` goes (same provider, endpoint, key).

    Calling it again with other numbers changes the budget of the live client. ``clock`` (tests give the
    loop's virtual clock) starts the endpoint afresh on that clock. Returns the endpoint's limiter.
    """
    if requests_per_minute is None and tokens_per_minute is None:
        raise ValueError("give requests_per_minute and/or tokens_per_minute")
    client = default_clients.peek(config)
    if client is None or (clock is not None and client.clock is not clock):
        client = default_clients.replace(config, clock)
    if client.budget != (requests_per_minute, tokens_per_minute):
        client.set_budget(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
    return client.limiter


def limiter_for(config: LLMConfig) -> RateLimiter | None:
    """The endpoint's limiter when a budget is configured for it (by ``config`` or earlier), else None."""
    if config.requests_per_minute is not None or config.tokens_per_minute is not None:
        return default_clients.get(config).limiter
    client = default_clients.peek(config)
    return client.limiter if client is not None and client.budget != (None, None) else None


def holding_back(config: LLMConfig) -> str | None:
    """A line saying that adaptive control is holding calls to ``config``'s endpoint back for long (for
    progress lines), or None when it is not (or no call went there yet)."""
    client = default_clients.peek(config)
    return client.controller.holding if client is not None and client.controller is not None else None


def reset_rate_limits() -> None:
    """Forget every default client's budget and learned state (for tests)."""
    default_clients.clear()
