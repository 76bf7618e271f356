"""Turning ``(prompt, config, attachments, system)`` into a validated :class:`LLMRequest`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from kagura._redact import credential_free_url, url_secrets
from kagura.core.llm._attachments import Attachment
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._types import LLMRequest
from kagura.core.llm.providers._registry import Provider

__all__ = ["build_request", "endpoint_of", "estimate_body_tokens"]


def endpoint_of(config: LLMConfig) -> tuple[str, str | None, str]:
    """Where calls with ``config`` go: (provider, base_url, sha256 of the key). Keys are never kept."""
    name = config.provider_name
    key = config.api_key_for(name)
    return name, config.base_url, hashlib.sha256((key or "").encode()).hexdigest()


def shared_budget_key(config: LLMConfig) -> str:
    """The name of the endpoint's shared budget in Redis: provider, base URL, a hash of the key (never it).

    The base URL appears without its credentials (``http://user:pass@proxy/v1`` as ``http://proxy/v1``):
    the name is shown by ``kagura budget show`` and in warnings. The credentials still tell budgets apart,
    through the hash (a URL without credentials keeps the key it always had).
    """
    name, base_url, key_hash = endpoint_of(config)
    if base_url:
        secrets = url_secrets(base_url)
        if secrets:
            key_hash = hashlib.sha256("\0".join([key_hash, *secrets]).encode()).hexdigest()
        base_url = credential_free_url(base_url)
    return f"{name}:{base_url or 'default'}:{key_hash[:16]}"


def build_request(
    prompt: str,
    config: LLMConfig,
    provider: Provider,
    attachments: Sequence[Attachment] | None,
    system: str | None,
) -> LLMRequest:
    """The request for one call; ``TypeError`` for wrong arguments, ``UnsupportedAttachmentError`` for an
    attachment the provider cannot take (raised before any call)."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if system is not None and not isinstance(system, str):
        raise TypeError(f"system must be a str or None, got {type(system).__name__}")
    atts = tuple(attachments or ())
    for att in atts:
        if not isinstance(att, Attachment):
            raise TypeError(
                "attachments must be Attachment objects (Attachment.from_path(...)), "
                f"got {type(att).__name__}"
            )
    request = LLMRequest(
        model=config.model_name,
        prompt=prompt,
        system=system,
        attachments=atts,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        timeout=config.timeout,
        base_url=config.base_url,
        api_key=config.api_key_for(provider.name),
        prompt_cache=config.prompt_cache,
    )
    provider.check_attachments(request)
    return request


def estimate_body_tokens(body: dict[str, Any]) -> int:
    """Tokens to admit a raw chat or embeddings body for: its text (~4 characters a token) plus the
    answer's ``max_completion_tokens``/``max_tokens`` (256 when a chat body sets none)."""
    text = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            text += len(content)
        elif isinstance(content, list):
            text += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    inputs = body.get("input")
    for item in [inputs] if isinstance(inputs, str) else inputs if isinstance(inputs, list) else ():
        text += len(item) if isinstance(item, str) else 0
    if "messages" not in body:
        return text // 4 + 1
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    answer = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 256
    return text // 4 + 1 + answer
