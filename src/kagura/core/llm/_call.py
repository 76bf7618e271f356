"""``complete``, ``call_llm`` and ``call_llm_stream``: thin wrappers over a client.

Each forwards to :meth:`LLMClient.complete` / :meth:`~LLMClient.stream` of ``client`` when given, else of
the default client for where ``config`` goes (:func:`default_client`; see :mod:`kagura.core.llm._defaults`),
so every call to one endpoint shares one budget and one adaptive controller. ``config=None`` means the
client's config (or an ``LLMConfig()`` from the environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar, overload

from kagura.core.llm._attachments import Attachment
from kagura.core.llm._client import LLMClient
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._defaults import default_clients
from kagura.core.llm._structured import DEFAULT_MAX_REPAIRS
from kagura.core.llm._types import LLMResponse
from kagura.core.parallel import run_sync

__all__ = ["call_llm", "call_llm_stream", "call_llm_sync", "complete"]

M = TypeVar("M")


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
