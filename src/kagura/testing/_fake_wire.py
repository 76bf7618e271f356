"""The fake server's vocabulary: faults, counters, the default answer and error bodies."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from aiohttp import web

__all__ = [
    "Faults",
    "ScriptedFailure",
    "ServerStats",
    "count_tokens",
    "default_answer",
    "error_response",
    "scripted",
    "text_of",
]


@dataclass
class Faults:
    """Which requests fail and how. ``*_every=N`` hits requests number N, 2N, 3N... (1-based, all routes).

    ``hang`` requests never answer until the server closes (the client must time out).
    """

    rate_limit_every: int | None = None
    retry_after: float = 1.0
    server_error_every: int | None = None
    hang_every: int | None = None
    malformed_every: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_every") and value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"Faults.{f.name} must be a positive int or None, got {value!r}")
        if self.retry_after < 0:
            raise ValueError("Faults.retry_after must be >= 0 seconds")


@dataclass
class ServerStats:
    """Counters of a :class:`FakeLLMServer`; ``requests`` counts every API request, failed ones too."""

    requests: int = 0
    chat_requests: int = 0
    embedding_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    faults_injected: int = 0
    #: arrival time of each request on the event loop's clock (virtual under looptime)
    request_times: list[float] = field(default_factory=list)


@dataclass
class ScriptedFailure:
    status: int | None  # None: hang until the server closes
    retry_after: float | None
    body: str | None


def text_of(content: Any) -> str:
    """The text of an OpenAI message ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def default_answer(messages: list[dict[str, Any]]) -> str:
    """The default deterministic answer: ``"fake answer: "`` + the last user message's text."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return f"fake answer: {text_of(message.get('content'))}"
    return "fake answer"


def count_tokens(text: str) -> int:
    """About 4 characters per token, at least 1 for non-empty text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def error_response(status: int, retry_after: float | None, message: str | None) -> web.Response:
    """An OpenAI-style JSON error, with ``Retry-After`` when given."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    body = {
        "error": {"message": message or f"fake server error {status}", "type": "fake_error", "code": status}
    }
    return web.json_response(body, status=status, headers=headers)


def scripted(answers: list[str], then: str | None = None) -> Callable[[list[dict[str, Any]]], str]:
    """A responder that answers ``answers`` in order, then ``then`` (or ValueError -> HTTP 500 when None)."""
    queue = list(answers)

    def responder(messages: list[dict[str, Any]]) -> str:
        if queue:
            return queue.pop(0)
        if then is None:
            raise ValueError("scripted responder ran out of answers")
        return then

    return responder
