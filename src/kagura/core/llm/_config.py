"""``LLMConfig``: which model, where, and how to call it. Missing fields come from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from kagura._cache_dir import cache_dir
from kagura._checks import check_bool, check_int, check_number
from kagura._redact import redact_url

__all__ = ["DEFAULT_MODEL", "LLMConfig", "default_cache_path"]

DEFAULT_MODEL = "gpt-4o-mini"


def default_cache_path() -> Path:
    """``llm_cache.sqlite`` in kagura's cache directory (``KAGURA_CACHE_DIR``, else the platform's: see
    :func:`kagura._cache_dir.cache_dir`)."""
    return cache_dir() / "llm_cache.sqlite"


def _base_url_problem(url: object) -> str | None:
    """Why ``url`` cannot be an OpenAI-compatible endpoint (not http(s)://HOST..., blanks inside), or None."""
    if not isinstance(url, str):
        return f"must be a URL string, got {type(url).__name__}"
    shown = repr(url if len(url) <= 80 else url[:77] + "...")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number 0-65535)
    except ValueError as exc:
        return f"is not a valid URL ({exc}): {shown}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL such as https://api.openai.com/v1, got {shown}"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return f"must not contain spaces or control characters, got {shown}"
    return None


@dataclass(frozen=True, repr=False)
class LLMConfig:
    """How to call a model.

    Fields left as ``None`` are read from the environment when the config is created:
    ``model`` from ``KAGURA_LLM_MODEL`` (else ``"gpt-4o-mini"``), ``base_url`` from ``KAGURA_LLM_BASE_URL``,
    ``api_key`` from ``KAGURA_LLM_API_KEY`` then ``OPENAI_API_KEY``, ``gemini_api_key`` from
    ``GEMINI_API_KEY``, ``anthropic_api_key`` from ``ANTHROPIC_API_KEY`` (or the ``api_key`` given
    with ``provider="anthropic"``). Keys never appear in ``repr``, nor do credentials inside ``base_url``.

    ``provider=None`` picks one: a ``gemini-*`` model with a Gemini key and no ``base_url`` goes to
    ``"gemini"``, a ``claude-*`` model with an Anthropic key and no ``base_url`` to ``"anthropic"``,
    everything else to ``"openai"`` (any OpenAI-compatible ``/v1`` endpoint).
    ``prompt_cache`` marks the system prompt and the first message cacheable where the provider wants it
    said (Anthropic's ``cache_control``; OpenAI and Gemini cache long prompts by themselves).

    ``max_attempts`` counts the first try: retryable errors (429, 5xx, timeouts, dropped connections) are
    retried with backoff honouring ``Retry-After``. ``requests_per_minute``/``tokens_per_minute`` set the
    budget shared by every call to the same (provider, endpoint, key): the most recent config carrying a
    budget sets it. ``adaptive`` (default True) learns the endpoint's quota from its rate-limit headers
    and from 429/503/timeout outcomes, never above a configured budget; ``False`` turns that off.
    ``redis_url`` (default ``KAGURA_REDIS_URL``) shares the endpoint's budget and what its adaptive
    controller learns with every process using the same Redis (extra ``kagura[redis]``), keyed by
    provider, base URL and a hash of the key (see :func:`shared_budget_key`); ``""`` turns that off.
    ``enable_cache`` keeps answers in a SQLite file (``cache_path``, ``cache_ttl`` seconds, ``None`` = no
    expiry); ``coalesce`` merges identical concurrent calls into one request (default: same as the cache).
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float = 0.0
    max_tokens: int | None = None
    timeout: float = 60.0
    enable_cache: bool = False
    cache_path: str | Path | None = None
    cache_ttl: float | None = 7 * 24 * 3600.0
    coalesce: bool | None = None
    provider: str | None = None
    gemini_api_key: str | None = field(default=None, repr=False)
    max_attempts: int = 3
    retry_max_delay: float = 30.0
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    adaptive: bool = True
    redis_url: str | None = field(default=None, repr=False)
    anthropic_api_key: str | None = field(default=None, repr=False)
    prompt_cache: bool = False

    def __repr__(self) -> str:
        def shown(name: str) -> object:
            value = getattr(self, name)
            return redact_url(value) if name == "base_url" and isinstance(value, str) else value

        return f"LLMConfig({', '.join(f'{f.name}={shown(f.name)!r}' for f in fields(self) if f.repr)})"

    def __post_init__(self) -> None:
        env = os.environ
        set_ = object.__setattr__
        if self.anthropic_api_key is None:  # before api_key is filled from the OpenAI variables
            given = self.api_key if self.provider == "anthropic" else None
            set_(self, "anthropic_api_key", given or env.get("ANTHROPIC_API_KEY") or None)
        if self.model is None:
            set_(self, "model", env.get("KAGURA_LLM_MODEL") or DEFAULT_MODEL)
        if self.base_url is None and env.get("KAGURA_LLM_BASE_URL"):
            set_(self, "base_url", env["KAGURA_LLM_BASE_URL"])
            if (problem := _base_url_problem(self.base_url)) is not None:
                raise ValueError(f"KAGURA_LLM_BASE_URL {problem}")
        elif self.base_url is not None and (problem := _base_url_problem(self.base_url)) is not None:
            raise ValueError(f"LLMConfig.base_url {problem}")
        if self.api_key is None:
            set_(self, "api_key", env.get("KAGURA_LLM_API_KEY") or env.get("OPENAI_API_KEY") or None)
        if self.gemini_api_key is None:
            set_(self, "gemini_api_key", env.get("GEMINI_API_KEY") or None)
        if self.redis_url is None:
            set_(self, "redis_url", env.get("KAGURA_REDIS_URL") or None)
        elif not isinstance(self.redis_url, str):
            raise TypeError(f"LLMConfig.redis_url must be a redis:// URL or None, got {self.redis_url!r}")
        if self.cache_path is None:
            set_(self, "cache_path", default_cache_path())
        else:
            set_(self, "cache_path", Path(self.cache_path))
        if not self.model:
            raise ValueError("LLMConfig.model must be a non-empty model name")
        check_number("LLMConfig.timeout", self.timeout, above=0, unit=" seconds")
        check_number("LLMConfig.temperature", self.temperature, at_least=0)
        check_int("LLMConfig.max_tokens", self.max_tokens, optional=True)
        check_int("LLMConfig.max_attempts", self.max_attempts, hint=" (1 means no retry)")
        check_number("LLMConfig.retry_max_delay", self.retry_max_delay, at_least=0, unit=" seconds")
        check_number("LLMConfig.cache_ttl", self.cache_ttl, above=0, optional=True, unit=" seconds",
                     hint=" (None: never expires)")  # fmt: skip
        check_bool("LLMConfig.prompt_cache", self.prompt_cache)
        check_bool("LLMConfig.adaptive", self.adaptive)
        for name in ("requests_per_minute", "tokens_per_minute"):
            check_number(f"LLMConfig.{name}", getattr(self, name), at_least=1, optional=True)

    @property
    def model_name(self) -> str:
        """The model, resolved (never None)."""
        return self.model or DEFAULT_MODEL

    @property
    def provider_name(self) -> str:
        """The provider this config goes to (see the class docstring)."""
        if self.provider:
            return self.provider
        if self.model_name.startswith("gemini") and self.gemini_api_key and not self.base_url:
            return "gemini"
        if self.model_name.startswith("claude") and self.anthropic_api_key and not self.base_url:
            return "anthropic"
        return "openai"

    def api_key_for(self, provider: str) -> str | None:
        """The key calls to ``provider`` send: its own key field (Gemini, Anthropic), else ``api_key``."""
        if provider == "gemini":
            return self.gemini_api_key
        if provider == "anthropic":
            return self.anthropic_api_key
        return self.api_key

    @property
    def should_coalesce(self) -> bool:
        return self.enable_cache if self.coalesce is None else self.coalesce
