"""One shared RPM/TPM budget per (provider, endpoint, key), configured once, used by every call."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from kagura.core.llm._config import LLMConfig
from kagura.core.parallel import RateLimiter

__all__ = ["configure_rate_limit", "limiter_for", "reset_rate_limits"]

_limiters: dict[tuple[str, str | None, str], tuple[RateLimiter, tuple[int | None, int | None]]] = {}
_lock = threading.Lock()


def _key(provider: str, base_url: str | None, api_key: str | None) -> tuple[str, str | None, str]:
    return provider, base_url, hashlib.sha256((api_key or "").encode()).hexdigest()


def configure_rate_limit(
    config: LLMConfig,
    *,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    clock: Callable[[], float] | None = None,
) -> RateLimiter:
    """Set the budget shared by every call going where ``config`` goes (same provider, endpoint, key).

    ``clock`` is passed to :class:`~kagura.core.parallel.RateLimiter` (tests give the loop's virtual clock).
    Configured once: setting different limits for the same destination later raises ``ValueError``.
    """
    if requests_per_minute is None and tokens_per_minute is None:
        raise ValueError("give requests_per_minute and/or tokens_per_minute")
    key = _key(config.provider_name, config.base_url, _key_of(config))
    limits = (requests_per_minute, tokens_per_minute)
    with _lock:
        existing = _limiters.get(key)
        if existing is not None:
            if existing[1] != limits:
                raise ValueError(
                    f"the rate limit for provider {config.provider_name!r} at "
                    f"{config.base_url or 'the default endpoint'} is "
                    f"already {existing[1]} (rpm, tpm); it is configured once per (provider, endpoint, key)"
                )
            return existing[0]
        limiter = RateLimiter(
            requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, clock=clock
        )
        _limiters[key] = (limiter, limits)
        return limiter


def _key_of(config: LLMConfig) -> str | None:
    return config.gemini_api_key if config.provider_name == "gemini" else config.api_key


def limiter_for(config: LLMConfig) -> RateLimiter | None:
    """The shared limiter for this destination: configured earlier, or now from the config's fields."""
    if config.requests_per_minute is not None or config.tokens_per_minute is not None:
        return configure_rate_limit(
            config, requests_per_minute=config.requests_per_minute, tokens_per_minute=config.tokens_per_minute
        )
    with _lock:
        entry = _limiters.get(_key(config.provider_name, config.base_url, _key_of(config)))
    return entry[0] if entry else None


def reset_rate_limits() -> None:
    """Forget every configured budget (for tests)."""
    with _lock:
        _limiters.clear()
