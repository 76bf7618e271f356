"""The OpenAI-compatible wire, whichever HTTP client carries it (the ``openai`` SDK or kagura's lean HTTP
path): the chat body of a request (messages with attachments), completions and usage read from JSON
bodies, and the one translation of an HTTP error status into ``kagura.errors`` (with ``Retry-After``, the
response headers, the /v1 hint).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kagura.core.llm._types import LLMRequest, RawResponse, Usage
from kagura.core.llm.providers._errors import error_for_status
from kagura.core.llm.providers._quota_headers import retry_after_of
from kagura.errors import KaguraError, MalformedResponseError, RetryableError

__all__ = [
    "AUDIO_FORMATS",
    "KEY_HINT",
    "build_messages",
    "chat_params",
    "finish_reason",
    "parse_completion",
    "request_id",
    "sdk_status_message",
    "status_answer",
    "status_error",
    "usage_of",
]

AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3",
                  "audio/mp3": "mp3"}  # fmt: skip
KEY_HINT = "KAGURA_LLM_API_KEY / OPENAI_API_KEY or LLMConfig(api_key=...)"


def build_messages(request: LLMRequest) -> list[dict[str, Any]]:
    """The OpenAI ``messages`` for a request: images as data URLs, audio as ``input_audio``, PDFs as files."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    if not request.attachments:
        messages.append({"role": "user", "content": request.prompt})
        return _with_turns(messages, request)
    parts: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    for att in request.attachments:
        if att.kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": att.data_url()}})
        elif att.kind == "audio":
            fmt = AUDIO_FORMATS[att.mime_type]
            parts.append({"type": "input_audio", "input_audio": {"data": att.base64(), "format": fmt}})
        elif att.kind == "pdf":
            parts.append(
                {
                    "type": "file",
                    "file": {"filename": att.name or "document.pdf", "file_data": att.data_url()},
                }
            )
        else:
            text = att.data.decode("utf-8", errors="replace")
            parts.append({"type": "text", "text": f"--- {att.name or 'attachment'} ---\n{text}"})
    messages.append({"role": "user", "content": parts})
    return _with_turns(messages, request)


def _with_turns(messages: list[dict[str, Any]], request: LLMRequest) -> list[dict[str, Any]]:
    messages += [{"role": role, "content": text} for role, text in request.turns]
    return messages


def chat_params(request: LLMRequest) -> dict[str, Any]:
    """The chat-completions body of a request, with its ``timeout`` (popped before sending)."""
    params: dict[str, Any] = {
        "model": request.model,
        "messages": build_messages(request),
        "temperature": request.temperature,
        "timeout": request.timeout,
        **request.extra,
    }
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    if request.schema is not None:
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "schema": dict(request.schema)},
        }
    return params


def parse_completion(data: Any) -> tuple[str, Usage]:
    """(text, usage) of a chat-completion JSON body; ``MalformedResponseError`` when it is not one."""
    try:
        text = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponseError(
            f"the LLM server's answer has no choices[0].message.content: {str(data)[:200]!r}"
        ) from None
    if not isinstance(text, str):
        raise MalformedResponseError(f"the LLM server's answer content is not text: {text!r:.200}")
    return text, usage_of(data.get("usage"))


def finish_reason(data: Any) -> str:
    try:
        reason = data["choices"][0].get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return reason if isinstance(reason, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(raw: object) -> Usage:
    """The :class:`Usage` of an OpenAI ``usage`` object (a dict or the SDK's model): prompt and completion
    tokens, the cached share of the prompt (``prompt_tokens_details.cached_tokens``) and the reasoning
    share of the completion (``completion_tokens_details.reasoning_tokens``); missing counts are 0."""
    if raw is not None and not isinstance(raw, dict):
        dump = getattr(raw, "model_dump", None)
        raw = dump() if callable(dump) else {}
    usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    return Usage(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        cached_input_tokens=_count(prompt_details.get("cached_tokens"))
        if isinstance(prompt_details, dict) else 0,
        reasoning_tokens=_count(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict) else 0,
    )  # fmt: skip


def request_id(headers: Any, body: Any) -> str:
    found = headers.get("x-request-id") if headers is not None else None
    if not found and isinstance(body, dict):
        found = body.get("id")
    return str(found or "")


def status_error(status: int, detail: str, headers: Mapping[str, str], where: str) -> KaguraError:
    """The kagura error for an HTTP error ``status`` (``detail``: the server's message, redacted) of a
    request to ``where`` (scheme://host:port/path, or ""): one translation for the SDK and the lean path."""
    error = error_for_status(
        status, detail, service="the LLM server", key_hint=KEY_HINT, retry_after=retry_after_of(headers)
    )
    if status == 404 and where and "/v1/" not in where:
        base = where.rsplit("/chat/completions", 1)[0].rsplit("/embeddings", 1)[0]
        error = type(error)(
            f"{error} (404 from {where}: OpenAI-compatible servers serve under /v1; try a base URL of"
            f" {base}/v1)"
        )
    if isinstance(error, RetryableError):
        error.headers = dict(headers)
    return error


def status_answer(status: int, headers: Mapping[str, str], content: bytes) -> RawResponse | None:
    """A final HTTP answer that is not an error of the call itself (400, 404, 422...) as a RawResponse;
    None for what must raise: retryable statuses (408, 429, 5xx), refused keys (401/403)."""
    if status in (401, 403, 408, 429) or status >= 500:
        return None
    try:
        body: Any = json.loads(content)
    except ValueError:
        body = {"error": {"message": content.decode("utf-8", errors="replace")[:2000]}}
    usage = usage_of(body.get("usage") if isinstance(body, dict) else None)
    return RawResponse(status, body, request_id(headers, body), usage, headers)


def sdk_status_message(status: int, content: bytes) -> str:
    """The message the ``openai`` SDK gives an error status: ``Error code: N``, then `` - <message>``
    when the body is JSON with an ``error.message`` (or a top-level ``message``) string."""
    message = f"Error code: {status}"
    try:
        body = json.loads(content.decode("utf-8", errors="replace").strip())
    except ValueError:
        return message
    error = body.get("error", body) if isinstance(body, dict) else None
    found = error.get("message") if isinstance(error, dict) else None
    return f"{message} - {found}" if isinstance(found, str) and found else message
