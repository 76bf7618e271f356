"""The fake server's vocabulary: faults, counters, the default answer and error bodies."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from aiohttp import web

from kagura._checks import check_int, check_probability, check_seconds

__all__ = [
    "DEFAULT_HISTORY",
    "Faults",
    "ScriptedFailure",
    "ServerStats",
    "completion_body",
    "count_tokens",
    "default_answer",
    "error_response",
    "scripted",
    "sse_events",
    "text_of",
    "trim",
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
    #: share of the answers to structured requests (a JSON Schema asked for) that are broken-off JSON,
    #: chosen by request number (deterministic: the same requests fail on every run)
    invalid_json_rate: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_every"):
                check_int(f"Faults.{f.name}", value, optional=True)
        check_seconds("Faults.retry_after", self.retry_after)
        check_probability("Faults.invalid_json_rate", self.invalid_json_rate)

    def invalid_json_for(self, number: int) -> bool:
        """Whether request ``number``'s structured answer is broken JSON (``invalid_json_rate`` of them)."""
        return (
            self.invalid_json_rate > 0
            and random.Random(f"invalid-json-{number}").random() < self.invalid_json_rate
        )

    def failure_for(self, number: int) -> ScriptedFailure | None:
        """The failure request ``number`` (1-based, by arrival) gets, or ``None``; hangs win, then 429s..."""
        for every, failure in (
            (self.hang_every, ScriptedFailure(None)),
            (self.rate_limit_every, ScriptedFailure(429, self.retry_after)),
            (self.server_error_every, ScriptedFailure(500)),
            (self.malformed_every, ScriptedFailure(200, malformed=True)),
        ):
            if every is not None and number % every == 0:
                return failure
        return None


DEFAULT_HISTORY = 10_000
"""The request bodies, arrival times and usage entries ``kagura fake-llm`` keeps by default (its latest)."""


@dataclass
class ServerStats:
    """Counters of a :class:`FakeLLMServer`; ``requests`` counts every API request, failed ones too."""

    requests: int = 0
    chat_requests: int = 0
    embedding_requests: int = 0
    #: requests to Anthropic's ``/v1/messages``
    messages_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    faults_injected: int = 0
    #: requests answered 429 because their API key was over the quota (not counted in ``faults_injected``)
    over_quota: int = 0
    #: structured answers sent as broken JSON on purpose (``Faults.invalid_json_rate``)
    invalid_answers: int = 0
    #: answers in the shape a JSON Schema asked for (valid or broken on purpose)
    structured_answers: int = 0
    #: requests that passed the quota (every request when there is no quota)
    admitted: int = 0
    #: admitted requests per second since the server started (or its stats were reset), keyed by the
    #: whole second on the server's clock: ``{0: 20, 1: 20, ...}`` (string keys over HTTP JSON)
    admitted_per_second: dict[int, int] = field(default_factory=dict)
    #: tokens charged against the quota per second of admission, after settlement with the real usage
    tokens_per_second: dict[int, int] = field(default_factory=dict)
    #: arrival time of each request on the event loop's clock (virtual under looptime)
    request_times: list[float] = field(default_factory=list)
    #: the usage billed for each answered request, in answer order: ``{"number", "route", "model",
    #: "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"}`` (the bill to
    #: check dollar totals against)
    usage_log: list[dict[str, Any]] = field(default_factory=list)
    #: how many of the latest ``request_times`` and ``usage_log`` entries are kept (None: every one); the
    #: lists then hold between ``history`` and twice as many (trimmed in bulk), the counters stay exact
    history: int | None = None

    def __post_init__(self) -> None:
        if self.history is not None and (isinstance(self.history, bool) or self.history < 0):
            raise ValueError(f"ServerStats.history must be None or >= 0, got {self.history!r}")

    def counters(self) -> dict[str, Any]:
        """Everything but the per-request lists and ``history``, as plain JSON values."""
        skipped = ("request_times", "usage_log", "history")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skipped}
        data["admitted_per_second"] = dict(self.admitted_per_second)
        data["tokens_per_second"] = dict(self.tokens_per_second)
        return data

    def bill(
        self,
        number: int,
        route: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        """Log the usage of one answered request (see ``usage_log``) and add it to the token counters."""
        self.prompt_tokens += input_tokens
        self.completion_tokens += output_tokens
        self.usage_log.append(
            {"number": number, "route": route, "model": model, "input_tokens": input_tokens,
             "cached_input_tokens": cached_input_tokens, "cache_write_tokens": cache_write_tokens,
             "output_tokens": output_tokens}
        )  # fmt: skip
        trim(self.usage_log, self.history)

    def arrive(self, now: float) -> int:
        """Count one API request in (at loop time ``now``); its number, 1-based."""
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.request_times.append(now)
        trim(self.request_times, self.history)
        return self.requests

    def admit(self, second: int) -> None:
        """Count one request past the quota, in whole ``second`` since the stats epoch."""
        self.admitted += 1
        self.admitted_per_second[second] = self.admitted_per_second.get(second, 0) + 1

    def charge(self, second: int, tokens: int) -> None:
        """Count ``tokens`` charged against the quota for a request admitted in ``second``."""
        self.tokens_per_second[second] = self.tokens_per_second.get(second, 0) + tokens


def trim(log: list[Any], history: int | None) -> None:
    """Keep the last ``history`` entries of ``log`` once it holds twice as many (None: keep them all)."""
    if history is not None and len(log) > 2 * history:
        del log[: len(log) - history]


@dataclass(frozen=True)
class ScriptedFailure:
    """One injected failure: HTTP ``status`` (``None``: hang until the server closes), or a malformed body."""

    status: int | None
    retry_after: float | None = None
    body: str | None = None
    malformed: bool = False


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


def error_response(
    status: int,
    retry_after: float | None,
    message: str | None,
    *,
    retry_after_ms: bool = False,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An OpenAI-style JSON error, with ``Retry-After`` when given, plus any extra ``headers``.

    ``retry_after_ms=True`` sends what quota-enforcing providers send: ``Retry-After`` in whole seconds
    (rounded up, as HTTP requires) and the exact wait in ``retry-after-ms``.
    """
    headers = dict(headers or {})
    if retry_after is not None and retry_after_ms:
        ms = math.ceil(retry_after * 1000 - 1e-6)
        headers.update({"Retry-After": str(math.ceil(ms / 1000)), "retry-after-ms": str(ms)})
    elif retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
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


def completion_body(number: int, model: str, answer: str, usage: dict[str, int]) -> dict[str, Any]:
    """The JSON of a non-streamed chat completion."""
    return {
        "id": f"chatcmpl-fake-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }


def sse_events(model: str, answer: str, usage: dict[str, int] | None) -> list[bytes]:
    """The server-sent events of a streamed completion: one delta per word, the end, usage if asked."""
    base = {"id": "chatcmpl-fake-stream", "object": "chat.completion.chunk", "created": 0, "model": model}
    words = answer.split(" ")
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"content": w if i == 0 else " " + w},
                              "finish_reason": None}]}
        for i, w in enumerate(words)
    ]  # fmt: skip
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
