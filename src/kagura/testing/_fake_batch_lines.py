"""Running one batch line through the fake server's online logic, and checking a batch input file.

A batch line gets exactly what the same request sent online would get: the server's responder answers the
messages, usage counts about 4 characters a token, and the body is the online endpoint's JSON
(:func:`~kagura.testing._fake_wire.completion_body`, :func:`~kagura.testing._fake_requests.embeddings_body`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kagura.testing._fake_requests import chat_estimate, chat_usage, embedding_texts, embeddings_body
from kagura.testing._fake_requests import embeddings_estimate as _embeddings_estimate
from kagura.testing._fake_wire import completion_body, text_of

__all__ = ["LineOutcome", "ParsedLine", "anthropic_message", "parse_input_file", "run_line", "to_openai"]

Responder = Callable[[list[dict[str, Any]]], "str | Awaitable[str]"]
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")


@dataclass(frozen=True)
class ParsedLine:
    """One request of a batch: its ``custom_id``, its body, and the tokens it enqueues."""

    custom_id: str
    body: dict[str, Any]
    model: str
    tokens: int


@dataclass(frozen=True)
class LineOutcome:
    """What running a line gave: an HTTP ``status`` and JSON ``body`` (an error body when status >= 400)."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400


def _estimate(endpoint: str, body: dict[str, Any]) -> int:
    return _embeddings_estimate(body) if endpoint == "/v1/embeddings" else chat_estimate(body)


def parse_input_file(data: bytes, endpoint: str) -> tuple[list[ParsedLine], list[dict[str, Any]]]:
    """The lines of an OpenAI batch input file, and OpenAI-style validation errors (with line numbers)."""
    lines: list[ParsedLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def fail(number: int, code: str, message: str, param: str | None = None) -> None:
        errors.append({"code": code, "message": message, "param": param, "line": number})

    for number, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            fail(number, "invalid_json_line", "This line is not parseable as valid JSON.")
            continue
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            fail(
                number, "missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id"
            )
            continue
        if item.get("method") != "POST":
            fail(number, "invalid_method", "The method must be 'POST'.", "method")
        elif item.get("url") != endpoint:
            fail(number, "mismatched_endpoint", f"The url must match the batch's endpoint {endpoint}.", "url")
        elif not isinstance(item.get("body"), dict):
            fail(number, "missing_required_parameter", "Missing required parameter: 'body'.", "body")
        elif item["custom_id"] in seen:
            fail(number, "duplicate_custom_id", "The custom_id for this request is a duplicate.", "custom_id")
        else:
            seen.add(item["custom_id"])
            body = item["body"]
            lines.append(
                ParsedLine(item["custom_id"], body, str(body.get("model", "")), _estimate(endpoint, body))
            )
    if not lines and not errors:
        errors.append(
            {"code": "empty_file", "message": "The input file is empty.", "param": None, "line": None}
        )
    return lines, errors


def _error(status: int, message: str, kind: str = "invalid_request_error") -> LineOutcome:
    return LineOutcome(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


async def run_line(responder: Responder, endpoint: str, body: dict[str, Any], number: int) -> LineOutcome:
    """What the online ``endpoint`` answers ``body`` (request number ``number``): a status and a JSON body."""
    model = str(body.get("model", "fake"))
    if endpoint == "/v1/embeddings":
        texts = embedding_texts(body)
        if texts is None:
            return _error(400, "'input' must be a string or a list of strings")
        return LineOutcome(200, embeddings_body(texts, int(body.get("dimensions") or 64), model))
    messages = body.get("messages")
    if not isinstance(messages, list):
        return _error(400, "'messages' must be a list")
    try:
        answer = responder(messages)
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception as exc:  # the online endpoint answers a responder failure with a 500 too
        return _error(500, f"the fake responder failed: {exc}", "server_error")
    return LineOutcome(200, completion_body(number, model, str(answer), chat_usage(messages, str(answer))))


def to_openai(params: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages ``params`` as the OpenAI chat body the fake logic runs (system first)."""
    if not isinstance(params.get("messages"), list):
        return {key: value for key, value in params.items() if key not in ("messages", "system")}
    messages: list[dict[str, Any]] = []
    system = params.get("system")
    if system:
        messages.append({"role": "system", "content": text_of(system)})
    for message in params["messages"]:
        if isinstance(message, dict):
            messages.append({"role": message.get("role"), "content": text_of(message.get("content"))})
    body = dict(params, messages=messages)
    body.pop("system", None)
    return body


def anthropic_message(outcome: LineOutcome, model: str) -> dict[str, Any]:
    """An OpenAI chat completion body in the shape of an Anthropic ``message``."""
    choice = outcome.body["choices"][0]
    usage = outcome.body["usage"]
    return {
        "id": outcome.body["id"].replace("chatcmpl-", "msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": choice["message"]["content"]}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }
