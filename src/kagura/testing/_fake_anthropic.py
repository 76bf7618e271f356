"""The fake server's Anthropic dialect: ``POST /v1/messages`` as the Messages API answers it.

- answers ``{"type": "message", "content": [...], "stop_reason", "usage": {input_tokens, output_tokens,
  cache_creation_input_tokens, cache_read_input_tokens}}``, or server-sent events when ``stream`` is true
  (``message_start``, ``content_block_start``, ``content_block_delta`` per word, ``content_block_stop``,
  ``message_delta`` with the output tokens, ``message_stop``);
- a forced tool (``tool_choice: {"type": "tool"}``) is answered with a ``tool_use`` block whose input is a
  minimal instance of the tool's ``input_schema`` (or, for ``Faults.invalid_json_rate`` of them, a text
  block of broken JSON);
- prompt caching: the prompt up to the last block marked ``cache_control`` is written to the cache the
  first time (``cache_creation_input_tokens``) and read from it after (``cache_read_input_tokens``);
  the fake has no minimum cacheable length;
- errors in Anthropic's shape ``{"type": "error", "error": {"type": "rate_limit_error", ...}}`` (529 is
  ``overloaded_error``), headers ``anthropic-ratelimit-*`` and ``request-id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kagura.testing._fake_requests import Call
from kagura.testing._fake_schema import instance_of, invalid_json
from kagura.testing._fake_wire import count_tokens

if TYPE_CHECKING:
    from kagura.testing._fake_server import FakeLLMServer

__all__ = [
    "answer_messages",
    "answer_plan",
    "anthropic_error",
    "anthropic_estimate",
    "message_body",
    "message_events",
    "prompt_blocks",
]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                529: "overloaded_error"}  # fmt: skip


def anthropic_error(
    status: int, message: str | None, headers: Mapping[str, str], number: int
) -> web.Response:
    """An error in the Messages API's shape (``api_error`` for statuses without their own type)."""
    kind = _ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message or f"fake {kind}"},
            "request_id": f"req_fake_{number}"}  # fmt: skip
    return web.json_response(body, status=status, headers={**headers, "request-id": f"req_fake_{number}"})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def prompt_blocks(body: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The prompt as (text, marked ``cache_control``) blocks, in the order the cache sees them: the
    system prompt, then each message's blocks."""
    blocks: list[tuple[str, bool]] = []
    system = body.get("system")
    if isinstance(system, str):
        blocks.append((system, False))
    elif isinstance(system, list):
        blocks += [(str(b.get("text", "")), "cache_control" in b) for b in system if isinstance(b, dict)]
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            blocks.append((content, False))
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict):
                    text = (
                        str(block.get("text", "")) if block.get("type") == "text" else json.dumps(block)[:64]
                    )
                    blocks.append((text, "cache_control" in block))
    return blocks


def anthropic_estimate(body: dict[str, Any]) -> int:
    """Tokens a Messages request is charged on admission: its prompt plus its ``max_tokens``."""
    limit = body.get("max_tokens")
    return sum(count_tokens(t) for t, _ in prompt_blocks(body)) + (limit if isinstance(limit, int) else 0)


def cache_split(body: Mapping[str, Any], seen: set[str]) -> tuple[int, int, int]:
    """(uncached input, cache-write, cache-read) tokens of a request, as prompt caching bills them: the
    longest prefix ending at a ``cache_control`` breakpoint that was cached before is read, the rest up
    to the last breakpoint is written; remembers what it wrote in ``seen``."""
    blocks = prompt_blocks(body)
    total = sum(count_tokens(t) for t, _ in blocks)
    marks = [i for i, (_, marked) in enumerate(blocks) if marked]
    if not marks:
        return total, 0, 0
    read = 0
    for end in marks:
        prefix = blocks[: end + 1]
        digest = hashlib.sha256(json.dumps([body.get("model"), prefix]).encode()).hexdigest()
        if digest in seen:
            read = sum(count_tokens(t) for t, _ in prefix)
        seen.add(digest)
    cached = sum(count_tokens(t) for t, _ in blocks[: marks[-1] + 1])
    return total - cached, cached - read, read


def answer_plan(body: Mapping[str, Any], invalid: bool) -> tuple[list[dict[str, Any]], str] | None:
    """For a forced tool: the content blocks and stop reason (a ``tool_use``, or broken JSON text when
    ``invalid``); None when the request forces no tool."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") != "tool":
        return None
    tools = [
        t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name") == choice.get("name")
    ]
    schema = tools[0].get("input_schema") if tools else None
    value = instance_of(schema if isinstance(schema, dict) else {"type": "object"})
    if invalid:
        return [{"type": "text", "text": invalid_json(json.dumps(value))}], "end_turn"
    tool_use = {"type": "tool_use", "id": "toolu_fake", "name": choice.get("name"), "input": value}
    return [tool_use], "tool_use"


def last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def message_body(
    number: int, model: str, content: list[dict[str, Any]], stop_reason: str, usage: dict[str, int]
) -> dict[str, Any]:
    """The JSON of a non-streamed Messages API answer."""
    return {"id": f"msg_fake_{number}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": usage}  # fmt: skip


def message_events(number: int, model: str, text: str, usage: dict[str, int]) -> list[bytes]:
    """The server-sent events of a streamed text answer: one ``text_delta`` per word."""
    start_usage = {**usage, "output_tokens": 1}
    message = {**message_body(number, model, [], "", start_usage), "stop_reason": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    for i, word in enumerate(text.split(" ")):
        delta = {"type": "text_delta", "text": word if i == 0 else " " + word}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": usage["output_tokens"]}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


async def answer_messages(server: FakeLLMServer, request: web.Request, call: Call) -> web.StreamResponse:
    """Answer one admitted ``/v1/messages`` request (JSON, or events when it asks to stream)."""
    body = call.body
    if not isinstance(body.get("messages"), list) or not isinstance(body.get("max_tokens"), int):
        headers = server._count_tokens(call, call.charged)
        return server._error("anthropic", call, 400, None, "'messages' and 'max_tokens' are required",
                           headers=headers)  # fmt: skip
    model = str(body.get("model", "fake"))
    plan = answer_plan(body, server.faults.invalid_json_for(call.number))
    if plan is None:
        messages = [{"role": "user", "content": last_user_text(body)}]
        text = await server._answer(call, messages, None)
        content, stop = [{"type": "text", "text": text}], "end_turn"
    else:
        content, stop = plan
        server.stats.structured_answers += 1
        server.stats.invalid_answers += stop != "tool_use"
        text = json.dumps(content[0].get("input")) if stop == "tool_use" else str(content[0]["text"])
    uncached, written, read = cache_split(body, server._cached_prefixes)
    output = count_tokens(text)
    usage = {"input_tokens": uncached, "output_tokens": output,
             "cache_creation_input_tokens": written, "cache_read_input_tokens": read}  # fmt: skip
    server.stats.bill(call.number, "messages", model, uncached + written + read, output, read, written)
    headers = {**server._count_tokens(call, uncached + written + read + output),
               "request-id": f"req_fake_{call.number}"}  # fmt: skip
    if not body.get("stream"):
        return web.json_response(message_body(call.number, model, content, stop, usage), headers=headers)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
    await response.prepare(request)
    for event in message_events(call.number, model, text, usage):
        await response.write(event)
    await response.write_eof()
    return response
