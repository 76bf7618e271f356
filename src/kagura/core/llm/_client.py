"""``LLMClient``: one endpoint's provider, budget, adaptive control, response cache and in-flight map.

::

    async with LLMClient(LLMConfig(base_url=..., model=...)) as client:
        text = await client.call("Summarise ...")

The path every call takes: validate -> reject attachments the provider cannot take (before any call) ->
[coalesce identical concurrent calls -> cache lookup] -> rate limiter (tokens estimated up front) ->
concurrency slot (adaptive) -> provider -> reconcile the token estimate with the real usage -> [cache
store] -> usage trackers. The provider builds its SDK client before admission (``prepare``), so an admitted
call leaves at once. Retryable failures are retried per ``config.max_attempts``, re-admitted through
the limiter; every attempt also passes the limiters in scope (a ``parallel_map(..., limiters=...)`` whose
item makes this call: its first attempt uses the scheduler's admission, retries book anew).
``call_llm(prompt, config)`` and friends use one default client per endpoint (see
:mod:`kagura.core.llm._defaults`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from kagura._redact import redact_url
from kagura.core.llm._adaptive import AdaptiveController
from kagura.core.llm._adaptive_state import AdaptiveStore
from kagura.core.llm._attachments import Attachment
from kagura.core.llm._cache import ResponseCache, cache_key
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._pricing import PriceTable
from kagura.core.llm._providers import Provider, new_provider
from kagura.core.llm._request import build_request, endpoint_of, estimate_body_tokens, shared_budget_key
from kagura.core.llm._structured import DEFAULT_MAX_REPAIRS, complete_structured
from kagura.core.llm._telemetry import CallTrace, Telemetry
from kagura.core.llm._types import LLMRequest, LLMResponse, RawResponse, Usage
from kagura.core.llm._usage import record_usage
from kagura.core.parallel import RateLimiter, RetryPolicy, admit_in_scope, call_with_retry
from kagura.errors import KaguraTimeoutError, RateLimitedError

__all__ = ["LLMClient"]

R = TypeVar("R")


@functools.lru_cache(maxsize=64)
def _policy(max_attempts: int, max_delay: float) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, max_delay=max_delay)


class _Admission:
    """What one attempt waits for, in this order: a concurrency slot (adaptive), the limiters in scope
    (a ``parallel_map(..., limiters=...)`` around this call), then the client's own limiter; the attempt
    frees the slot.

    The slot comes first so that every budget is booked when the call is about to start: a call queued at
    the gate must neither skip a rate learned meanwhile nor have been counted by a budget long before it
    leaves (a scheduler's admission of the item that went stale while the call waited here is not used:
    the call books anew).
    """

    __slots__ = ("controller", "gate", "limiter")
    admits_scope = True  # call_with_retry leaves the limiters in scope to acquire()

    def __init__(self, limiter: RateLimiter, controller: AdaptiveController | None) -> None:
        self.limiter, self.controller = limiter, controller
        self.gate = controller.gate if controller is not None else None

    async def acquire(self, tokens: int = 0) -> None:
        if self.gate is None or self.controller is None:
            await admit_in_scope(tokens, own=(self.limiter,), fresh=True)
            await self.limiter.acquire(tokens)
            return
        clock = self.controller.clock
        asked = clock()
        await self.gate.acquire()
        try:
            waited = clock() - asked  # what adaptive control held back: the slot, then our own rate
            await admit_in_scope(tokens, own=(self.limiter,), fresh=True)
            asked = clock()
            await self.limiter.acquire(tokens)
        except BaseException:
            self.gate.release()
            raise
        self.controller.note_wait(waited + clock() - asked)


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
        if provider is None or isinstance(provider, str):
            provider = new_provider(provider or config.provider_name)
        elif not isinstance(provider, Provider):
            raise TypeError(f"provider must be a Provider instance or a name, got {type(provider).__name__}")
        self.provider = provider
        shared = config.redis_url or None  # one budget and one learned state for every process
        if limiter is None:
            limiter = RateLimiter(
                config.requests_per_minute,
                config.tokens_per_minute,
                clock=self.clock,
                redis=shared,
                key=shared_budget_key(config) if shared else None,
            )
        elif not isinstance(limiter, RateLimiter):
            raise TypeError(f"limiter must be a kagura RateLimiter, got {type(limiter).__name__}")
        self.limiter = limiter
        if isinstance(cache, str | Path):
            cache = ResponseCache(cache)
        elif cache is not None and not isinstance(cache, ResponseCache):
            raise TypeError(f"cache must be a ResponseCache, a path or None, got {type(cache).__name__}")
        self._cache = cache
        self._caches: dict[Path, ResponseCache] = {}
        adaptive = config.adaptive if adaptive is None else adaptive
        if not isinstance(adaptive, bool):
            raise TypeError(f"adaptive must be True or False, got {type(adaptive).__name__}")
        self.controller: AdaptiveController | None = None
        if adaptive and adaptive_store is None and shared:
            from kagura.core.llm._adaptive_redis import RedisAdaptiveState

            seed = AdaptiveController.initial_state(
                limiter, limiter.requests_per_minute, limiter.tokens_per_minute
            )
            adaptive_store = RedisAdaptiveState(shared, shared_budget_key(config), seed, clock=self.clock)
        if adaptive:
            self.controller = AdaptiveController(
                limiter,
                ceiling_rpm=limiter.requests_per_minute,
                ceiling_tpm=limiter.tokens_per_minute,
                clock=self.clock,
                store=adaptive_store,
            )
        self._flights: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Task[LLMResponse]]
        ] = weakref.WeakKeyDictionary()
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
            return await self._send(config, request)
        return await complete_structured(functools.partial(self._send, config), request, schema, max_repairs)

    async def _send(self, config: LLMConfig, request: LLMRequest) -> LLMResponse:
        """One request along the whole path (coalescing, cache, budget, retries), counted in trackers."""
        if not (config.enable_cache or config.should_coalesce):
            response = await self._call_provider(config, request)
        else:
            key = cache_key(self.provider.name, request)
            if not config.should_coalesce:
                response = await self._cached_call(config, request, key)
            else:
                response = await self._coalesced(config, request, key)
        record_usage(response)
        return response

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
            async for delta in self._stream(config, request, trace):
                yield delta

    async def _stream(self, config: LLMConfig, request: LLMRequest, trace: CallTrace) -> AsyncIterator[str]:
        policy = _policy(config.max_attempts, config.retry_max_delay)
        admission, controller = self._admission(config)
        estimate = self.provider.estimate_tokens(request)
        await self.provider.prepare(request)
        usage: Usage | None = None
        parts: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            await admission.acquire(estimate)  # slot, the budgets in scope, then our own
            started = self.clock()
            try:
                async for chunk in trace.stream_attempt(self.provider.stream(request)):
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if chunk.delta:
                        parts.append(chunk.delta)
                        yield chunk.delta
            except Exception as exc:
                self._finish(admission, controller, error=exc, started=started)
                if parts or not policy.should_retry(exc, attempt):
                    raise
                await asyncio.sleep(policy.delay(attempt, exc))
                continue
            except BaseException:
                self._finish(admission, controller)
                raise
            self._finish(admission, controller, started=started, estimate=estimate, usage=usage, success=True)
            break
        model, name = request.model, self.provider.name
        usage = self.priced(model, usage or Usage())
        response = LLMResponse("".join(parts), usage, model=model, provider=name)
        trace.finish(response)
        record_usage(response)

    def priced(self, model: str, usage: Usage) -> Usage:
        """``usage`` with its ``cost_usd`` from this client's price table (None: the model has no price)."""
        if usage.cost_usd is not None:
            return usage
        return dataclasses.replace(usage, cost_usd=self.prices.cost(model, usage))

    # -- the path of one call --------------------------------------------------------------------------
    def _admission(self, config: LLMConfig) -> tuple[_Admission, AdaptiveController | None]:
        controller = self.controller if config.adaptive else None
        return _Admission(self.limiter, controller), controller

    def _finish(
        self,
        admission: _Admission,
        controller: AdaptiveController | None,
        *,
        error: BaseException | None = None,
        started: float | None = None,
        estimate: int = 0,
        usage: Usage | None = None,
        success: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        """After one attempt: free its slot, tell the controller, reconcile the token estimate."""
        if admission.gate is not None:
            admission.gate.release()
        if isinstance(error, RateLimitedError):
            self.rate_limited += 1
        if controller is not None:
            if success:
                controller.on_success(headers, started)
            elif error is not None:
                controller.on_failure(error, started)
        if success and usage is not None and usage.total_tokens > 0:
            if self.limiter.tokens_per_minute is not None:
                self.limiter.adjust(usage.total_tokens - estimate)

    async def _call_provider(self, config: LLMConfig, request: LLMRequest) -> LLMResponse:
        provider = self.provider

        def usage_of(response: LLMResponse) -> tuple[Usage, Mapping[str, str]]:
            return response.usage, response.headers

        estimate = provider.estimate_tokens(request)
        trace = self.telemetry.call(provider.name, request, self.clock)
        with trace.span():  # the call's span: every attempt, retries and waits included
            response = await self._attempts(
                config, request, estimate, lambda: provider.complete(request), usage_of, trace=trace
            )
            response = dataclasses.replace(response, usage=self.priced(response.model, response.usage))
            trace.finish(response)
        return response

    async def _attempts(
        self,
        config: LLMConfig,
        request: LLMRequest,
        estimate: int,
        call: Callable[[], Awaitable[R]],
        usage_of: Callable[[R], tuple[Usage, Mapping[str, str]]],
        *,
        trace: CallTrace | None = None,
    ) -> R:
        """``call()`` through admission (slot, the budgets in scope, then our own), with the call's timeout
        and retries; each attempt in its own span when ``trace`` is given."""
        admission, controller = self._admission(config)
        await self.provider.prepare(request)  # SDK ready before the budget admits: the call leaves at once

        async def attempt() -> R:
            if trace is None:
                return await attempt_once()
            with trace.attempt():  # the attempt's span (no await before the provider call)
                return await attempt_once()

        async def attempt_once() -> R:
            # The slot was taken by admission.acquire just before (no await in between): free it here.
            started = self.clock()
            try:
                deadline = asyncio.timeout(request.timeout)
                try:
                    async with deadline:
                        response = await call()
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    raise KaguraTimeoutError(f"the LLM call timed out after {request.timeout} s") from None
            except Exception as exc:
                self._finish(admission, controller, error=exc, started=started)
                raise
            except BaseException:
                self._finish(admission, controller)
                raise
            usage, headers = usage_of(response)
            self._finish(
                admission, controller, started=started, estimate=estimate, usage=usage, success=True,
                headers=dict(headers) if headers else None,
            )  # fmt: skip
            return response

        policy = _policy(config.max_attempts, config.retry_max_delay)
        return await call_with_retry(attempt, policy, limiters=(admission,), tokens=estimate)

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

        def usage_of(response: RawResponse) -> tuple[Usage, Mapping[str, str]]:
            return response.usage, response.headers

        response = await self._attempts(
            config, request, estimate, lambda: provider.post_json(path, body, request), usage_of
        )
        model = body.get("model")
        if not isinstance(model, str):
            return response
        return dataclasses.replace(response, usage=self.priced(model, response.usage))

    def _cache_for(self, config: LLMConfig) -> ResponseCache | None:
        if not config.enable_cache:
            return None
        if self._cache is not None:
            return self._cache
        path = Path(config.cache_path or "").expanduser().resolve()
        cache = self._caches.get(path)
        if cache is None:
            cache = self._caches[path] = ResponseCache(path)
        return cache

    async def _cached_call(self, config: LLMConfig, request: LLMRequest, key: str) -> LLMResponse:
        cache = self._cache_for(config)
        if cache is not None:
            hit = await cache.get(key)
            if hit is not None:
                return hit
        response = await self._call_provider(config, request)
        if cache is not None:
            await cache.put(key, response, config.cache_ttl)
        return response

    async def _coalesced(self, config: LLMConfig, request: LLMRequest, key: str) -> LLMResponse:
        # Followers join the leader's task synchronously (no await between lookup and registration),
        # so N identical concurrent calls make exactly one request, cache lookup included.
        flight_key = key + hashlib.sha256((request.api_key or "").encode()).hexdigest()
        flights = self._flights.setdefault(asyncio.get_running_loop(), {})
        task = flights.get(flight_key)
        leader = task is None
        if task is None:
            task = asyncio.ensure_future(self._cached_call(config, request, key))
            flights[flight_key] = task
            task.add_done_callback(lambda t: _land(flights, flight_key, t))
        response = await asyncio.shield(task)
        if not leader:  # the answer cost this caller no request: count its tokens once, in the leader
            response = dataclasses.replace(
                response, cached=True, usage=dataclasses.replace(response.usage, cost_usd=0.0)
            )
        return response

    # -- lifecycle -------------------------------------------------------------------------------------
    async def ready(self) -> None:
        """Get the provider ready for the first call (its SDK imported off the event loop, its HTTP client
        made), e.g. while the input is still being read; calls do it themselves otherwise."""
        config = self._config_for(None)
        await self.provider.prepare(build_request("", config, self.provider, None, None))

    async def aclose(self) -> None:
        """Close the provider's SDK clients (HTTP connection pools) and this loop's Redis connections of a
        shared budget. The client stays usable."""
        await self.provider.aclose()
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


def _land(flights: dict[str, asyncio.Task[LLMResponse]], key: str, task: asyncio.Task[LLMResponse]) -> None:
    flights.pop(key, None)
    if not task.cancelled():
        task.exception()  # retrieved here too, so a flight whose callers all left logs no warning
