"""Deprecated: ``configure_rate_limit``, ``limiter_for``, ``holding_back``, ``reset_rate_limits``.

They act on the hidden default client of the endpoint ``config`` goes to, and warn
(``DeprecationWarning``; removed in the next release). The one way to set a rate budget is the client's
config: ``LLMClient(LLMConfig(..., requests_per_minute=R, tokens_per_minute=T))`` (a live client is
retuned with :meth:`~kagura.core.llm.LLMClient.set_budget`); ``call_llm`` without a client uses
``default_client(config)``, whose budget the same config fields set.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from kagura.core.llm._call import default_clients
from kagura.core.llm._config import LLMConfig
from kagura.core.parallel import RateLimiter

__all__ = ["configure_rate_limit", "holding_back", "limiter_for", "reset_rate_limits"]


def _deprecated(name: str, instead: str) -> None:
    warnings.warn(
        f"kagura.core.llm.{name} is deprecated and will be removed in the next release: {instead}",
        DeprecationWarning,
        stacklevel=3,
    )


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
    Deprecated: give the budget in the client's config, ``LLMConfig(requests_per_minute=...)``.
    """
    _deprecated(
        "configure_rate_limit",
        "give the budget in the client's config, LLMClient(LLMConfig(..., requests_per_minute=R, "
        "tokens_per_minute=T)), or call_llm(prompt, LLMConfig(..., requests_per_minute=R))",
    )
    if requests_per_minute is None and tokens_per_minute is None:
        raise ValueError("give requests_per_minute and/or tokens_per_minute")
    client = default_clients.peek(config)
    if client is None or (clock is not None and client.clock is not clock):
        client = default_clients.replace(config, clock)
    if client.budget != (requests_per_minute, tokens_per_minute):
        client.set_budget(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
    return client.limiter


def limiter_for(config: LLMConfig) -> RateLimiter | None:
    """The endpoint's limiter when a budget is configured for it (by ``config`` or earlier), else None.
    Deprecated: ``default_client(config).limiter``, or your own client's ``limiter``."""
    _deprecated("limiter_for", "use default_client(config).limiter, or your own LLMClient's limiter")
    if config.requests_per_minute is not None or config.tokens_per_minute is not None:
        return default_clients.get(config).limiter
    client = default_clients.peek(config)
    return client.limiter if client is not None and client.budget != (None, None) else None


def holding_back(config: LLMConfig) -> str | None:
    """A line saying that adaptive control is holding calls to ``config``'s endpoint back for long (for
    progress lines), or None when it is not (or no call went there yet). Deprecated: ``client.holding``."""
    _deprecated("holding_back", "use the LLMClient's holding property")
    client = default_clients.peek(config)
    return client.controller.holding if client is not None and client.controller is not None else None


def reset_rate_limits() -> None:
    """Forget every default client's budget and learned state (for tests). Deprecated:
    ``await default_clients.aclose()`` (or ``default_clients.clear()``)."""
    _deprecated("reset_rate_limits", "use await default_clients.aclose() (or default_clients.clear())")
    default_clients.clear()
