"""The default clients behind ``call_llm(prompt, config)`` and friends: one object, visible and closable.

:data:`default_clients` holds one :class:`LLMClient` per (provider, base_url, key hash), created on first
use from the first config seen, so every ``call_llm`` to the same place shares one budget, one adaptive
controller and one in-flight map, whatever other fields (model, temperature, cache) the configs differ
in. A config carrying a budget (``requests_per_minute``/``tokens_per_minute``) sets that endpoint's
budget; a later config with another budget changes it (the most recent wins).

Code that wants its own state holds an :class:`LLMClient` and passes it (``call_llm(..., client=c)``,
``MultimodalRAG(store, llm=c)``, ``AgentRouter(..., llm=c)``). ``default_client(config)`` gives the one
``call_llm`` would use; ``await default_clients.aclose()`` closes them all (connection pools, Redis) and
forgets them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kagura.core.llm._client import LLMClient
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._request import endpoint_of
from kagura.core.llm.providers._registry import provider_class

__all__ = ["DefaultClients", "default_client", "default_clients"]


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
