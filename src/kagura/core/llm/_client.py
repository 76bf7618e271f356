"""``LLMClient``: one endpoint's provider, budget, adaptive control, response cache and in-flight map.

::

    async with LLMClient(LLMConfig(base_url=..., model=...)) as client:
        text = await client.call("Summarise ...")

The path every call takes: validate -> reject attachments the provider cannot take (before any call) ->
[coalesce identical concurrent calls -> cache lookup] -> rate limiter (tokens estimated up front) ->
concurrency slot (adaptive) -> [spend cap: the attempt's worst case in dollars reserved] -> provider ->
reconcile the token estimate with the real usage [and settle the dollars] -> [cache store] -> usage
trackers (see :mod:`kagura.core.llm._sending`). The provider builds its SDK client before admission
(``prepare``), so an admitted call leaves at once. Retryable failures are retried per
``config.max_attempts``, re-admitted through the limiter; every attempt also passes the limiters in scope
(a ``parallel_map(..., limiters=...)`` whose item makes this call: its first attempt uses the scheduler's
admission, retries book anew).
``call_llm(prompt, config)`` and friends use the default client of the endpoint (see
:class:`~kagura.core.llm.DefaultClients`) unless given ``client=``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from kagura._redact import redact_url
from kagura.core.llm._attachments import Attachment
from kagura.core.llm._cache import ClientCaches, ResponseCache
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._pricing import PriceTable
from kagura.core.llm._request import build_request, endpoint_of, estimate_body_tokens
from kagura.core.llm._sending import attempts, send_request, stream_deltas
from kagura.core.llm._structured import DEFAULT_MAX_REPAIRS, complete_structured
from kagura.core.llm._telemetry import Telemetry
from kagura.core.llm._types import LLMResponse, RawResponse, Usage
from kagura.core.llm.control._adaptive_state import AdaptiveStore
from kagura.core.llm.control._admission import build_controls
from kagura.core.llm.control._spend import SpendCap, body_token_bounds, priced_worst
from kagura.core.llm.providers._registry import Provider, new_provider
from kagura.core.parallel import RateLimiter

__all__ = ["LLMClient"]


class LLMClient:
    """Calls to one endpoint (provider, ``base_url``, key), with the state those calls share.

    - ``config``: the endpoint and the defaults of every call (a call may pass its own ``config`` for
      the same endpoint to change the model, sampling, cache or retry settings).
    - ``limiter``: the budget (default: a :class:`~kagura.core.parallel.RateLimiter` from
      ``config.requests_per_minute``/``tokens_per_minute``, unlimited when those are None).
    - ``cache``: a :class:`ResponseCache` or a path for one; default: ``config.cache_path`` when a
      call's config has ``enable_cache``.
    - ``provider``: a :class:`Provider` instance or a registered name (default: the config's); tests
      inject a fake here, no global registry involved.
    - ``adaptive``: learn the endpoint's quota from headers and outcomes (default ``config.adaptive``,
      True). A configured budget stays a ceiling. ``adaptive_store``: where the learned state lives.
    - ``clock``: seconds for the limiter and controller (tests pass the event loop's virtual clock).
    - ``prices``: the :class:`PriceTable` that fills ``response.usage.cost_usd`` (default: the shipped
      table with ``KAGURA_PRICES``'s file over it; a model without a price costs ``None``).
    - ``telemetry``: where spans and metrics go (default: OpenTelemetry's global providers when
      ``kagura[otel]`` is installed, else nothing; see :class:`Telemetry`).
    - ``spend_cap``: a :class:`SpendCap` in dollars: each attempt's worst case is reserved before it
      leaves and settled on its priced usage; a call that could pass the cap raises
      :class:`~kagura.errors.BudgetExceededError` (not retried). A call to a model without a price in
      ``prices`` raises ``ConfigurationError`` before anything is sent. Clients may share one cap.

    ``async with LLMClient(...) as client:`` closes the provider's SDK clients on exit (:meth:`aclose`).
    """

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        limiter: RateLimiter | None = None,
        cache: ResponseCache | str | Path | None = None,
        provider: Provider | str | None = None,
        adaptive: bool | None = None,
        adaptive_store: AdaptiveStore | None = None,
        clock: Callable[[], float] | None = None,
        prices: PriceTable | None = None,
        telemetry: Telemetry | None = None,
        spend_cap: SpendCap | None = None,
    ) -> None:
        if config is None:
            config = LLMConfig()
        elif not isinstance(config, LLMConfig):
            raise TypeError(f"config must be an LLMConfig, got {type(config).__name__}")
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {type(clock).__name__}")
        if prices is not None and not isinstance(prices, PriceTable):
            raise TypeError(f"prices must be a PriceTable, got {type(prices).__name__}")
        self.config = config
        self.prices = PriceTable.from_env() if prices is None else prices
        if telemetry is not None and not isinstance(telemetry, Telemetry):
            raise TypeError(f"telemetry must be a Telemetry, got {type(telemetry).__name__}")
        self.telemetry = Telemetry() if telemetry is None else telemetry
        self.clock: Callable[[], float] = clock or time.monotonic
        if spend_cap is not None and not isinstance(spend_cap, SpendCap):
            raise TypeError(f"spend_cap must be a SpendCap, got {type(spend_cap).__name__}")
        self.spend_cap = spend_cap
        if provider is None or isinstance(provider, str):
            provider = new_provider(provider or config.provider_name)
        elif not isinstance(provider, Provider):
            raise TypeError(f"provider must be a Provider instance or a name, got {type(provider).__name__}")
        self.provider = provider
        self.limiter, self.controller = build_controls(config, limiter, adaptive, adaptive_store, self.clock)
        self.caches = ClientCaches(cache)
        """The response caches and in-flight map of this client's calls."""
        self._endpoint = endpoint_of(config)
        self.rate_limited = 0
        """Attempts answered "rate limited" (HTTP 429) so far, retried or not."""

    def __repr__(self) -> str:
        base_url = redact_url(self.config.base_url) if self.config.base_url else None
        return (
            f"LLMClient(provider={self.provider.name!r}, base_url={base_url!r}, "
            f"limiter={self.limiter!r}, adaptive={self.controller is not None})"
        )

    # -- budget ----------------------------------------------------------------------------------------
    def set_budget(
        self, *, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ) -> None:
        """Change the configured budget of a live client (the adaptive controller's ceiling; None: none)."""
        if self.controller is not None:
            self.controller.set_ceiling(requests_per_minute, tokens_per_minute)
        else:
            self.limiter.set_rates(
                requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
            )

    @property
    def budget(self) -> tuple[float | None, float | None]:
        """The configured (requests_per_minute, tokens_per_minute); the limiter's when not adaptive."""
        if self.controller is not None:
            return self.controller.ceiling_rpm, self.controller.ceiling_tpm
        return self.limiter.requests_per_minute, self.limiter.tokens_per_minute

    @property
    def holding(self) -> str | None:
        """A line saying that adaptive control is holding calls back for long (for progress lines), or
        None when it is not (or adaptive control is off)."""
        return self.controller.holding if self.controller is not None else None

    # -- calls -----------------------------------------------------------------------------------------
    def _config_for(self, config: LLMConfig | None) -> LLMConfig:
        if config is None:
            return self.config
        if not isinstance(config, LLMConfig):
            raise TypeError(f"config must be an LLMConfig, got {type(config).__name__}")
        if endpoint_of(config) != self._endpoint:
            raise ValueError(
                "this LLMClient calls one endpoint (provider, base_url, key); the config given goes "
                "elsewhere: use another LLMClient (or call_llm) for it"
            )
        return config

    async def complete(
        self,
        prompt: str,
        attachments: Sequence[Attachment] | None = None,
        system: str | None = None,
        *,
        config: LLMConfig | None = None,
        schema: object = None,
        max_repairs: int = DEFAULT_MAX_REPAIRS,
    ) -> LLMResponse:
        """Ask the model once; the :class:`LLMResponse` (``.text``, ``.usage``, ``.cached``).

        Retryable failures are retried (``config.max_attempts``); the rest raise the matching
        ``kagura.errors`` class. With a ``schema`` (a pydantic model class or a JSON Schema dict) the
        answer is validated into ``.parsed``, invalid answers sent back up to ``max_repairs`` times
        (see :mod:`kagura.core.llm._structured`).
        """
        config = self._config_for(config)
        request = build_request(prompt, config, self.provider, attachments, system)
        if schema is None:
            return await send_request(self, config, request)
        send = functools.partial(send_request, self, config)
        return await complete_structured(send, request, schema, max_repairs)

    async def call(
        self,
        prompt: str,
        attachments: Sequence[Attachment] | None = None,
        system: str | None = None,
        *,
        config: LLMConfig | None = None,
    ) -> str:
        """Ask the model once and return the answer's text (see :meth:`complete`)."""
        return (await self.complete(prompt, attachments, system, config=config)).text

    async def stream(
        self,
        prompt: str,
        attachments: Sequence[Attachment] | None = None,
        system: str | None = None,
        *,
        config: LLMConfig | None = None,
    ) -> AsyncIterator[str]:
        """Yield the answer's text deltas as they arrive. Streams are never cached.

        A retryable failure before the first delta is retried like :meth:`complete`; once text has been
        yielded, a failure is raised (the caller already holds part of the answer).
        """
        config = self._config_for(config)
        request = build_request(prompt, config, self.provider, attachments, system)
        # the stream's spans are not made current: the caller's code runs between the deltas
        with self.telemetry.call(self.provider.name, request, self.clock, current=False).span() as trace:
            async for delta in stream_deltas(self, config, request, trace):
                yield delta

    def priced(self, model: str, usage: Usage) -> Usage:
        """``usage`` with its ``cost_usd`` from this client's price table (None: the model has no price)."""
        if usage.cost_usd is not None:
            return usage
        return dataclasses.replace(usage, cost_usd=self.prices.cost(model, usage))

    async def send(
        self,
        path: str,
        body: dict[str, Any],
        *,
        estimate: int | None = None,
        config: LLMConfig | None = None,
    ) -> RawResponse:
        """POST ``body`` as-is to ``path`` under the endpoint (``"/chat/completions"``, ``"/embeddings"``)
        through the same admission, adaptive control and retries as :meth:`complete`; never cached.

        ``estimate``: the tokens to admit it for (default: a quarter of the body's characters plus its
        ``max_tokens``). HTTP answers that retrying cannot change (400, 404, 422) come back as a
        :class:`RawResponse` with their status; 401/403 and exhausted retries raise.
        """
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', e.g. '/chat/completions', got {path!r}")
        if not isinstance(body, dict):
            raise TypeError(f"body must be a dict (the JSON object to post), got {type(body).__name__}")
        config = self._config_for(config)
        request = build_request("", config, self.provider, None, None)
        if estimate is None:
            estimate = estimate_body_tokens(body)
        provider = self.provider
        model = body.get("model")
        model = model if isinstance(model, str) else None
        worst = 0.0
        if self.spend_cap is not None:
            worst = priced_worst(self.prices, model or request.model, *body_token_bounds(body))

        def usage_of(response: RawResponse) -> tuple[str, Usage, Mapping[str, str]]:
            return model or request.model, response.usage, response.headers

        response = await attempts(
            self, config, request, estimate, lambda: provider.post_json(path, body, request), usage_of,
            worst_usd=worst,
        )  # fmt: skip
        if model is None:
            return response
        return dataclasses.replace(response, usage=self.priced(model, response.usage))

    # -- lifecycle -------------------------------------------------------------------------------------
    async def ready(self) -> None:
        """Get the provider ready for the first call (its SDK imported off the event loop, its HTTP client
        made), e.g. while the input is still being read; calls do it themselves otherwise."""
        config = self._config_for(None)
        await self.provider.prepare(build_request("", config, self.provider, None, None))

    async def aclose(self) -> None:
        """Close the provider's SDK clients (HTTP connection pools) and this loop's Redis connections of a
        shared budget (and of the spend cap). The client stays usable."""
        await self.provider.aclose()
        if self.spend_cap is not None:
            await self.spend_cap.aclose()
        if self.limiter.shared is not None:
            await self.limiter.shared.close()
        store_close = getattr(self.controller.store, "aclose", None) if self.controller else None
        if store_close is not None:
            await store_close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
