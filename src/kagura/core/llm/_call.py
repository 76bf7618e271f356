"""``complete``, ``call_llm`` and ``call_llm_stream``: the one path every LLM call takes.

validate -> pick the provider -> reject attachments it cannot take (before any call) -> [coalesce identical
concurrent calls -> cache lookup] -> shared RPM/TPM budget + retries (``kagura.core.parallel``) ->
provider -> [cache store] -> usage trackers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import weakref
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from kagura.core.llm._attachments import Attachment
from kagura.core.llm._budget import limiter_for
from kagura.core.llm._cache import cache_at, cache_key
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._providers import Provider, get_provider
from kagura.core.llm._types import LLMRequest, LLMResponse, Usage
from kagura.core.llm._usage import record_usage
from kagura.core.parallel import RetryPolicy, call_with_retry, run_sync

__all__ = ["call_llm", "call_llm_stream", "call_llm_sync", "complete"]

_inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task[LLMResponse]]]
_inflight = weakref.WeakKeyDictionary()


def _build(
    prompt: str, config: LLMConfig | None, attachments: Sequence[Attachment] | None, system: str | None
) -> tuple[LLMConfig, Provider, LLMRequest]:
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if config is None:
        config = LLMConfig()
    elif not isinstance(config, LLMConfig):
        raise TypeError(f"config must be an LLMConfig, got {type(config).__name__}")
    if system is not None and not isinstance(system, str):
        raise TypeError(f"system must be a str or None, got {type(system).__name__}")
    atts = tuple(attachments or ())
    for att in atts:
        if not isinstance(att, Attachment):
            raise TypeError(
                "attachments must be Attachment objects (Attachment.from_path(...)), "
                f"got {type(att).__name__}"
            )
    provider = get_provider(config.provider_name)
    request = LLMRequest(
        model=config.model_name,
        prompt=prompt,
        system=system,
        attachments=atts,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        timeout=config.timeout,
        base_url=config.base_url,
        api_key=config.gemini_api_key if provider.name == "gemini" else config.api_key,
    )
    provider.check_attachments(request)
    return config, provider, request


@functools.lru_cache(maxsize=64)
def _policy(max_attempts: int, max_delay: float) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, max_delay=max_delay)


async def _call_provider(config: LLMConfig, provider: Provider, request: LLMRequest) -> LLMResponse:
    limiter = limiter_for(config)
    policy = _policy(config.max_attempts, config.retry_max_delay)
    return await call_with_retry(
        lambda: provider.complete(request),
        policy,
        timeout=config.timeout,
        limiters=(limiter,) if limiter is not None else (),
        tokens=provider.estimate_tokens(request) if limiter is not None else 0,
    )


async def _cached_call(config: LLMConfig, provider: Provider, request: LLMRequest, key: str) -> LLMResponse:
    cache = cache_at(Path(config.cache_path or "")) if config.enable_cache else None
    if cache is not None:
        hit = await cache.get(key)
        if hit is not None:
            return hit
    response = await _call_provider(config, provider, request)
    if cache is not None:
        await cache.put(key, response, config.cache_ttl)
    return response


def _land(flights: dict[str, asyncio.Task[LLMResponse]], key: str, task: asyncio.Task[LLMResponse]) -> None:
    flights.pop(key, None)
    if not task.cancelled():
        task.exception()  # retrieved here too, so a flight whose callers all left logs no warning


async def complete(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
) -> LLMResponse:
    """Ask the model once and return the :class:`LLMResponse` (``.text``, ``.usage``, ``.cached``).

    Retryable failures are retried (``config.max_attempts``); the rest raise the matching
    ``kagura.errors`` class. ``config=None`` builds an ``LLMConfig()`` from the environment.
    """
    config, provider, request = _build(prompt, config, attachments, system)
    if not (config.enable_cache or config.should_coalesce):
        response = await _call_provider(config, provider, request)
    else:
        key = cache_key(provider.name, request)
        if not config.should_coalesce:
            response = await _cached_call(config, provider, request, key)
        else:
            # Followers join the leader's task synchronously (no await between lookup and registration),
            # so N identical concurrent calls make exactly one request, cache lookup included.
            flight_key = key + hashlib.sha256((request.api_key or "").encode()).hexdigest()
            flights = _inflight.setdefault(asyncio.get_running_loop(), {})
            task = flights.get(flight_key)
            leader = task is None
            if task is None:
                task = asyncio.ensure_future(_cached_call(config, provider, request, key))
                flights[flight_key] = task
                task.add_done_callback(lambda t: _land(flights, flight_key, t))
            response = await asyncio.shield(task)
            if not leader:  # the answer cost this caller no request: count its tokens once, in the leader
                response = dataclasses.replace(response, cached=True)
    record_usage(response)
    return response


async def call_llm(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
) -> str:
    """Ask the model once and return the answer's text (see :func:`complete`)."""
    return (await complete(prompt, config, attachments, system)).text


async def call_llm_stream(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
) -> AsyncIterator[str]:
    """Yield the answer's text deltas as they arrive. Streams are never cached.

    A retryable failure before the first delta is retried like :func:`complete`; once text has been
    yielded, a failure is raised (the caller already holds part of the answer).
    """
    config, provider, request = _build(prompt, config, attachments, system)
    limiter = limiter_for(config)
    policy = _policy(config.max_attempts, config.retry_max_delay)
    usage: Usage | None = None
    parts: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        if limiter is not None:
            await limiter.acquire(provider.estimate_tokens(request))
        try:
            async for chunk in provider.stream(request):
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.delta:
                    parts.append(chunk.delta)
                    yield chunk.delta
            break
        except Exception as exc:
            if parts or not policy.should_retry(exc, attempt):
                raise
            await asyncio.sleep(policy.delay(attempt, exc))
    record_usage(LLMResponse("".join(parts), usage or Usage(), model=request.model, provider=provider.name))


def call_llm_sync(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
) -> str:
    """:func:`call_llm` for code without an event loop (scripts); inside a loop, ``await call_llm``."""
    return run_sync(call_llm(prompt, config, attachments, system))
