"""``complete``, ``call_llm`` and ``call_llm_stream``: thin wrappers over the endpoint's default client.

Each forwards to :meth:`LLMClient.complete` / :meth:`~LLMClient.stream` of the default client for where
``config`` goes (see :mod:`kagura.core.llm._defaults`), so every call to one endpoint shares one budget
and one adaptive controller. ``config=None`` builds an ``LLMConfig()`` from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar, overload

from kagura.core.llm._attachments import Attachment
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._defaults import default_clients
from kagura.core.llm._structured import DEFAULT_MAX_REPAIRS
from kagura.core.llm._types import LLMResponse
from kagura.core.parallel import run_sync

__all__ = ["call_llm", "call_llm_stream", "call_llm_sync", "complete"]

M = TypeVar("M")


def _config(config: LLMConfig | None) -> LLMConfig:
    if config is None:
        return LLMConfig()
    if not isinstance(config, LLMConfig):
        raise TypeError(f"config must be an LLMConfig, got {type(config).__name__}")
    return config


async def complete(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    schema: object = None,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
) -> LLMResponse:
    """Ask the model once and return the :class:`LLMResponse` (``.text``, ``.usage``, ``.cached``).

    Retryable failures are retried (``config.max_attempts``); the rest raise the matching
    ``kagura.errors`` class. ``schema`` (a pydantic model class or a JSON Schema dict): the answer is
    validated into ``.parsed`` and repaired up to ``max_repairs`` times, else
    :class:`~kagura.errors.StructuredOutputError`; ``.usage`` (and its ``cost_usd``) counts every attempt.
    """
    config = _config(config)
    client = default_clients.get(config)
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
) -> Any: ...
async def call_llm(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
    *,
    schema: object = None,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
) -> Any:
    """Ask the model once and return the answer's text; with a ``schema``, the validated answer (a model
    instance for a pydantic model class, the decoded JSON for a JSON Schema dict; see :func:`complete`)."""
    response = await complete(prompt, config, attachments, system, schema=schema, max_repairs=max_repairs)
    return response.text if schema is None else response.parsed


async def call_llm_stream(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
) -> AsyncIterator[str]:
    """Yield the answer's text deltas as they arrive (see :meth:`LLMClient.stream`)."""
    config = _config(config)
    async for delta in default_clients.get(config).stream(prompt, attachments, system, config=config):
        yield delta


def call_llm_sync(
    prompt: str,
    config: LLMConfig | None = None,
    attachments: Sequence[Attachment] | None = None,
    system: str | None = None,
) -> str:
    """:func:`call_llm` for code without an event loop (scripts); inside a loop, ``await call_llm``."""
    return run_sync(call_llm(prompt, config, attachments, system))
