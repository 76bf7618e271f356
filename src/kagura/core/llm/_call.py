"""``complete``, ``call_llm`` and ``call_llm_stream``: thin wrappers over a client, and the default
clients they use when given none.

Each forwards to :meth:`LLMClient.complete` / :meth:`~LLMClient.stream` of ``client`` when given, else of
the default client for where ``config`` goes (:func:`default_client`), so every call to one endpoint
shares one budget and one adaptive controller. ``config=None`` means the client's config (or an
``LLMConfig()`` from the environment).

:data:`default_clients` holds one :class:`LLMClient` per (provider, base_url, key hash), created on first
use from the first config seen, whatever other fields (model, temperature, cache) the configs differ in.
A config carrying a budget (``requests_per_minute``/``tokens_per_minute``) sets that endpoint's budget; a
later config with another budget changes it (the most recent wins). Code that wants its own state holds
an :class:`LLMClient` and passes it (``call_llm(..., client=c)``, ``MultimodalRAG(store, llm=c)``,
``AgentRouter(..., llm=c)``); ``await default_clients.aclose()`` closes the default ones and forgets them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from kagura.core.llm._attachments import Attachment
from kagura.core.llm._client import LLMClient
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._request import endpoint_of
from kagura.core.llm._structured import DEFAULT_MAX_REPAIRS
from kagura.core.llm._types import LLMResponse
from kagura.core.llm.providers._registry import provider_class
from kagura.core.parallel import run_sync

__all__ = [
    "DefaultClients",
    "call_llm",
    "call_llm_stream",
    "call_llm_sync",
    "complete",
    "default_client",
    "default_clients",
]

M = TypeVar("M")


class DefaultClients:
    """The default clients, one per endpoint; thread-safe. ``call_llm`` uses :data:`default_clients`."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str | None, str], LLMClient] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._clients)

    def get(self, config: LLMConfig) -> LLMClient:
        """The endpoint's default client, created if needed, its budget updated from ``config``."""
        key = endpoint_of(config)
        with self._lock:
            client = self._clients.get(key)
            if client is None or not isinstance(client.provider, provider_class(config.provider_name)):
                client = self._clients[key] = LLMClient(config)
                return client
        budget = (config.requests_per_minute, config.tokens_per_minute)
        if budget != (None, None) and budget != client.budget:
            client.set_budget(requests_per_minute=budget[0], tokens_per_minute=budget[1])
        return client

    def peek(self, config: LLMConfig) -> LLMClient | None:
        """The endpoint's default client if one exists (never creates one)."""
        with self._lock:
            return self._clients.get(endpoint_of(config))

    def replace(self, config: LLMConfig, clock: Callable[[], float] | None) -> LLMClient:
        """A fresh default client for the endpoint (its state forgotten), on ``clock``."""
        client = LLMClient(config, clock=clock)
        with self._lock:
            self._clients[endpoint_of(config)] = client
        return client

    def clear(self) -> None:
        """Forget every default client (budgets, learned rates, in-flight maps) without closing them."""
        with self._lock:
            self._clients.clear()

    async def aclose(self) -> None:
        """Close every default client (SDK connection pools, Redis connections) and forget them."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            await client.aclose()


default_clients = DefaultClients()
"""The default clients of this process (see the module docstring)."""


def default_client(config: LLMConfig | None = None) -> LLMClient:
    """The client ``call_llm(prompt, config)`` uses for ``config``'s endpoint (``None``: from the
    environment), created on first use; close them all with ``await default_clients.aclose()``."""
    if config is None:
        config = LLMConfig()
    elif not isinstance(config, LLMConfig):
        raise TypeError(f"config must be an LLMConfig, got {type(config).__name__}")
    return default_clients.get(config)


def _client(config: LLMConfig | None, client: LLMClient | None) -> tuple[LLMClient, LLMConfig]:
    if client is not None:
        if not isinstance(client, LLMClient):
            raise TypeError(f"client must be an LLMClient or None, got {type(client).__name__}")
        if config is None:
            return client, client.config
    if config is None:
        config = LLMConfig()
    elif not isinstance(config, LLMConfig):
        raise TypeError(f"config must be an LLMConfig, got {type(config).__name__}")
    return (client or default_clients.get(config)), config


async def complete(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    schema: object = None,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    client: LLMClient | None = None,
) -> LLMResponse:
    """Ask the model once and return the :class:`LLMResponse` (``.text``, ``.usage``, ``.cached``).

    Retryable failures are retried (``config.max_attempts``); the rest raise the matching
    ``kagura.errors`` class. ``schema`` (a pydantic model class or a JSON Schema dict): the answer is
    validated into ``.parsed`` and repaired up to ``max_repairs`` times, else
    :class:`~kagura.errors.StructuredOutputError`; ``.usage`` (and its ``cost_usd``) counts every attempt.
    """
    client, config = _client(config, client)
    return await client.complete(
        prompt, attachments, system, config=config, schema=schema, max_repairs=max_repairs
    )


@overload
async def call_llm(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    schema: None = None,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    client: LLMClient | None = None,
) -> str: ...
@overload
async def call_llm(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    schema: type[M],
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    client: LLMClient | None = None,
) -> M: ...
@overload
async def call_llm(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    schema: Mapping[str, Any],
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    client: LLMClient | None = None,
) -> Any: ...
async def call_llm(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    schema: object = None,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    client: LLMClient | None = None,
) -> Any:
    """Ask the model once and return the answer's text; with a ``schema``, the validated answer (a model
    instance for a pydantic model class, the decoded JSON for a JSON Schema dict; see :func:`complete`).
    ``client``: the :class:`LLMClient` to call through (default: :func:`default_client` of ``config``)."""
    response = await complete(
        prompt, config, attachments, system, schema=schema, max_repairs=max_repairs, client=client
    )
    return response.text if schema is None else response.parsed


async def call_llm_stream(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    client: LLMClient | None = None,
) -> AsyncIterator[str]:
    """Yield the answer's text deltas as they arrive (see :meth:`LLMClient.stream`)."""
    client, config = _client(config, client)
    async for delta in client.stream(prompt, attachments, system, config=config):
        yield delta


def call_llm_sync(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
) -> str:
    """:func:`call_llm` for code without an event loop (scripts); inside a loop, ``await call_llm``."""
    return run_sync(call_llm(prompt, config, attachments, system))
