"""What the fake server reads from a request (API key, token estimate) and the embeddings it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kagura.testing._fake_wire import count_tokens, text_of
from kagura.testing._vectors import fake_embedding

__all__ = [
    "Call",
    "api_key_of",
    "chat_estimate",
    "chat_usage",
    "embedding_texts",
    "embeddings_body",
    "embeddings_estimate",
    "prefix_tokens",
]


@dataclass
class Call:
    """One API request in flight: its arrival number, body, API key, and what its admission charged."""

    number: int
    body: dict[str, Any]
    key: str
    #: whole second of admission since the server's stats epoch
    second: int = 0
    #: tokens charged against the quota on admission (the estimate)
    charged: int = 0


def api_key_of(request: web.Request) -> str:
    """The request's API key: ``Authorization: Bearer KEY``, else Azure's ``api-key``, else ``""``."""
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ").strip() if auth else request.headers.get("api-key", "")


def chat_estimate(body: dict[str, Any]) -> int:
    """Tokens a chat request is charged on admission: its prompt plus its ``max_tokens`` when it gives one."""
    messages = body.get("messages")
    prompt = 0
    if isinstance(messages, list):
        prompt = sum(count_tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict))
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return prompt + (limit if isinstance(limit, int) and limit > 0 else 0)


def chat_usage(messages: list[Any], answer: str, cached: int = 0) -> dict[str, Any]:
    """The ``usage`` of a chat answer: prompt, completion and total tokens (about 4 characters each), and
    ``cached`` of the prompt's tokens read from the (fake) prompt cache."""
    prompt = sum(count_tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict))
    completion = count_tokens(answer)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": min(cached, prompt)},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def prefix_tokens(messages: list[Any]) -> int:
    """Tokens of every message but the last: the part a prompt cache can hold."""
    return sum(count_tokens(text_of(m.get("content"))) for m in messages[:-1] if isinstance(m, dict))


def embedding_texts(body: dict[str, Any]) -> list[str] | None:
    """The texts of an embeddings request, or ``None`` when ``input`` is not a string or list of strings."""
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return None
    return texts


def embeddings_estimate(body: dict[str, Any]) -> int:
    """Tokens an embeddings request is charged: exactly its input's."""
    return sum(count_tokens(t) for t in embedding_texts(body) or [])


def embeddings_body(texts: list[str], dim: int, model: str) -> dict[str, Any]:
    """The JSON of an embeddings answer: deterministic unit vectors and the token usage."""
    tokens = sum(count_tokens(t) for t in texts)
    data = [
        {"object": "embedding", "index": i, "embedding": fake_embedding(t, dim)} for i, t in enumerate(texts)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
