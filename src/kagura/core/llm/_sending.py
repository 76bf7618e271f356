"""The path of one call of an :class:`~kagura.core.llm.LLMClient`, after the request is built.

[coalesce identical concurrent calls -> cache lookup] -> :func:`attempts` (admission: slot, the budgets in
scope, the client's limiter, the dollars; the provider under the call's timeout; retries re-admitted)
-> [cache store]. :func:`stream_deltas` is the same admission and retries for a stream (no cache).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from kagura._cancel import cancels, raise_if_cancelled_since
from kagura.core.llm._cache import Flight, cache_key
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._telemetry import CallTrace
from kagura.core.llm._types import LLMRequest, LLMResponse, Usage
from kagura.core.llm._usage import record_usage
from kagura.core.llm.control._admission import Admission
from kagura.core.llm.control._spend import request_worst_usd
from kagura.core.parallel import RetryPolicy, call_with_retry
from kagura.errors import KaguraTimeoutError, RateLimitedError

if TYPE_CHECKING:
    from kagura.core.llm._client import LLMClient

__all__ = ["attempts", "send_request", "stream_deltas"]

R = TypeVar("R")


@functools.lru_cache(maxsize=64)
def _policy(max_attempts: int, max_delay: float) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, max_delay=max_delay)


def _admission(client: LLMClient, config: LLMConfig, worst_usd: float = 0.0) -> Admission:
    """The admission of one call with ``config``: adaptive when the config says so, the spend cap."""
    controller = client.controller if config.adaptive else None
    return Admission(client.limiter, controller, client.spend_cap, worst_usd)


def _failed(client: LLMClient, admission: Admission, error: BaseException | None = None,
            started: float | None = None) -> None:  # fmt: skip
    """After a failed (or cancelled) attempt: free its slot, tell the controller, count a 429."""
    if isinstance(error, RateLimitedError):
        client.rate_limited += 1
    admission.finish(error=error, started=started)


def worst_usd(client: LLMClient, request: LLMRequest) -> float:
    """The most ``request`` can cost (0.0 without a spend cap; see :func:`request_worst_usd`)."""
    if client.spend_cap is None:
        return 0.0
    return request_worst_usd(client.prices, client.provider, request)


async def send_request(client: LLMClient, config: LLMConfig, request: LLMRequest) -> LLMResponse:
    """One request along the whole path (coalescing, cache, budget, retries), counted in trackers."""
    if not (config.enable_cache or config.should_coalesce):
        response = await call_provider(client, config, request)
    else:
        key = cache_key(client.provider.name, request)
        if not config.should_coalesce:
            response = await _cached_call(client, config, request, key)
        else:
            response = await _coalesced(client, config, request, key)
    record_usage(response)
    return response


async def call_provider(client: LLMClient, config: LLMConfig, request: LLMRequest) -> LLMResponse:
    provider = client.provider

    def usage_of(response: LLMResponse) -> tuple[str, Usage, Mapping[str, str]]:
        return response.model, response.usage, response.headers

    estimate = provider.estimate_tokens(request)
    trace = client.telemetry.call(provider.name, request, client.clock)
    with trace.span():  # the call's span: every attempt, retries and waits included
        response = await attempts(
            client, config, request, estimate, lambda: provider.complete(request), usage_of,
            worst_usd=worst_usd(client, request), trace=trace,
        )  # fmt: skip
        response = dataclasses.replace(response, usage=client.priced(response.model, response.usage))
        trace.finish(response)
    return response


async def attempts(
    client: LLMClient,
    config: LLMConfig,
    request: LLMRequest,
    estimate: int,
    call: Callable[[], Awaitable[R]],
    usage_of: Callable[[R], tuple[str, Usage, Mapping[str, str]]],
    *,
    worst_usd: float = 0.0,
    trace: CallTrace | None = None,
) -> R:
    """``call()`` through admission (slot, the budgets in scope, our own, the dollars), with the call's
    timeout and retries; each attempt in its own span when ``trace`` is given. ``usage_of`` gives an
    answer's (model, usage, headers)."""
    admission = _admission(client, config, worst_usd)
    await client.provider.prepare(request)  # SDK ready before the budget admits: the call leaves at once

    async def attempt() -> R:
        if trace is None:
            return await attempt_once()
        with trace.attempt():  # the attempt's span (no await before the provider call)
            return await attempt_once()

    async def attempt_once() -> R:
        # The slot was taken by admission.acquire just before (no await in between): free it here.
        started = client.clock()
        before = cancels()
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
            if cancels() > before:  # a cancellation some library turned into an error: not a failure
                _failed(client, admission)
                raise asyncio.CancelledError() from exc
            _failed(client, admission, exc, started)
            await admission.settle(error=exc)
            raise
        except BaseException:
            _failed(client, admission)
            raise
        model, usage, headers = usage_of(response)
        admission.finish(started=started, estimate=estimate, usage=usage, success=True, headers=headers)
        if admission.reserved:
            await admission.settle(cost_usd=client.priced(model, usage).cost_usd)
        raise_if_cancelled_since(before)  # lost below (see kagura._cancel): counted, but the task stops
        return response

    policy = _policy(config.max_attempts, config.retry_max_delay)
    return await call_with_retry(attempt, policy, limiters=(admission,), tokens=estimate)


async def stream_deltas(
    client: LLMClient, config: LLMConfig, request: LLMRequest, trace: CallTrace
) -> AsyncIterator[str]:
    """The answer's deltas through the same admission and retries (none once text has been yielded)."""
    policy = _policy(config.max_attempts, config.retry_max_delay)
    admission = _admission(client, config, worst_usd(client, request))
    provider = client.provider
    estimate = provider.estimate_tokens(request)
    await provider.prepare(request)
    usage: Usage | None = None
    parts: list[str] = []
    attempt = 0
    cancelled_before = cancels()
    while True:
        attempt += 1
        await admission.acquire(estimate)  # slot, the budgets in scope, our own, then the dollars
        started = client.clock()
        try:
            async for chunk in trace.stream_attempt(provider.stream(request)):
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.delta:
                    parts.append(chunk.delta)
                    yield chunk.delta
        except Exception as exc:
            if cancels() > cancelled_before:  # a cancellation some library turned into an error
                _failed(client, admission)
                raise asyncio.CancelledError() from exc
            _failed(client, admission, exc, started)
            await admission.settle(error=exc)
            if parts or not policy.should_retry(exc, attempt):
                raise
            await asyncio.sleep(policy.delay(attempt, exc))
            continue
        except BaseException:
            _failed(client, admission)
            raise
        admission.finish(started=started, estimate=estimate, usage=usage, success=True)
        break
    model, name = request.model, provider.name
    usage = client.priced(model, usage or Usage())
    if admission.reserved:
        await admission.settle(cost_usd=usage.cost_usd)
    response = LLMResponse("".join(parts), usage, model=model, provider=name)
    trace.finish(response)
    record_usage(response)


async def _cached_call(client: LLMClient, config: LLMConfig, request: LLMRequest, key: str) -> LLMResponse:
    cache = client.caches.for_config(config)
    if cache is not None:
        hit = await cache.get(key)
        if hit is not None:
            return hit
    response = await call_provider(client, config, request)
    if cache is not None:
        await cache.put(key, response, config.cache_ttl)
    return response


async def _coalesced(client: LLMClient, config: LLMConfig, request: LLMRequest, key: str) -> LLMResponse:
    # Followers join the leader's task synchronously (no await between lookup and registration),
    # so N identical concurrent calls make exactly one request, cache lookup included.
    flight_key = key + hashlib.sha256((request.api_key or "").encode()).hexdigest()
    flights = client.caches.flights()
    flight = flights.get(flight_key)
    leader = flight is None
    if flight is None:
        flight = Flight(asyncio.ensure_future(_cached_call(client, config, request, key)))
        flights[flight_key] = flight
        flight.task.add_done_callback(lambda t: _land(flights, flight_key, t))
    flight.callers += 1
    try:
        response = await asyncio.shield(flight.task)  # one caller leaving does not cancel the others' call
    except asyncio.CancelledError:
        if flight.callers == 1:  # the last caller left: nobody wants the answer, the call stops too
            flight.task.cancel()
        raise
    finally:
        flight.callers -= 1
    if not leader:  # the answer cost this caller no request: count its tokens once, in the leader
        response = dataclasses.replace(
            response, cached=True, usage=dataclasses.replace(response.usage, cost_usd=0.0)
        )
    return response


def _land(flights: dict[str, Flight], key: str, task: asyncio.Task[LLMResponse]) -> None:
    flights.pop(key, None)
    if not task.cancelled():
        task.exception()  # retrieved here too, so a flight whose callers all left logs no warning
