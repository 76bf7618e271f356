"""The default :class:`LLMClient` per endpoint, behind ``call_llm(prompt, config)`` and friends.

One client per (provider, base_url, key hash), created on first use from the first config seen, so every
call to the same place shares one budget, one adaptive controller and one in-flight map, whatever other
fields (model, temperature, cache) the configs differ in. A config carrying a budget
(``requests_per_minute``/``tokens_per_minute``) sets that endpoint's budget; a later config with another
budget changes it (the most recent wins), so a long-lived process can retune without restarting.
Code that wants its own isolated state uses an :class:`LLMClient` directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kagura.core.llm._client import LLMClient
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._request import endpoint_of
from kagura.core.llm.providers._registry import provider_class

__all__ = ["DefaultClients", "default_clients"]


class DefaultClients:
    """The registry of default clients (one per endpoint); thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str | None, str], LLMClient] = {}
        self._lock = threading.Lock()

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
        """Forget every default client (budgets, learned rates, in-flight maps)."""
        with self._lock:
            self._clients.clear()


default_clients = DefaultClients()
