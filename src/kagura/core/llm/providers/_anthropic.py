"""The Anthropic provider: Claude through the Messages API on the official ``anthropic`` SDK
(optional extra ``kagura[anthropic]``, imported lazily).

Each provider instance owns one ``AsyncAnthropic`` client (its own retries off: kagura retries) per event
loop and (base_url, key). Images and PDFs go inline as base64 blocks; a ``schema`` becomes one forced tool
whose input is the answer; ``LLMConfig(prompt_cache=True)`` marks the system prompt and the first message
with ``cache_control`` (cache writes and reads land in :class:`Usage`). Responses carry the HTTP headers
(``anthropic-ratelimit-*`` feed adaptive control); 429 and 529 "overloaded" are retryable. SDK exceptions
are translated in :func:`translate_anthropic_error` and nowhere else. ``temperature`` is not sent: the API
version the SDK 2.x speaks (``2026-10-21``) rejects sampling parameters (``request.extra`` still goes as
given, for an older ``anthropic-version``).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import sys
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from kagura._extras import import_optional
from kagura._redact import redact_text
from kagura.core.llm._types import LLMRequest, LLMResponse, RawResponse, Usage
from kagura.core.llm.providers._errors import check_api_key, error_for_status
from kagura.core.llm.providers._quota_headers import retry_after_of
from kagura.core.llm.providers._registry import Provider, StreamChunk, register_provider
from kagura.errors import (
    AuthenticationError,
    InvalidRequestError,
    KaguraError,
    KaguraTimeoutError,
    LLMError,
    MalformedResponseError,
    ProviderConnectionError,
    RetryableError,
)

__all__ = ["AnthropicProvider", "anthropic_usage", "build_anthropic_params", "translate_anthropic_error"]

DEFAULT_MAX_TOKENS = 4096  # the Messages API requires max_tokens; used when the config sets none
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/csv", "text/html", "text/x-python"})
_KEY_HINT = "ANTHROPIC_API_KEY / LLMConfig(api_key=..., provider='anthropic')"
_RAW = {"X-Stainless-Raw-Response": "true"}  # keep the response headers (as with_raw_response does)
_EPHEMERAL = {"type": "ephemeral"}
_WRAPPED = "value"  # a non-object schema is wrapped in {"value": ...}: tool inputs are objects

_Clients = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str | None, str], Any]]


def _client(clients: _Clients, base_url: str | None, api_key: str | None) -> Any:
    if not api_key:
        raise AuthenticationError(f"no Anthropic API key: set {_KEY_HINT}")
    check_api_key(api_key, _KEY_HINT)
    anthropic = import_optional("anthropic", "the Anthropic provider")
    if base_url is not None:  # the SDK adds /v1/messages itself; accept a base URL given with /v1
        base_url = base_url.rstrip("/").removesuffix("/v1")
    per_loop = clients.setdefault(asyncio.get_running_loop(), {})
    key = (base_url, hashlib.sha256(api_key.encode()).hexdigest())
    client = per_loop.get(key)
    if client is None:
        client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0)
        per_loop[key] = client
    return client


def _first_message(request: LLMRequest) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    for att in request.attachments:
        source = {"type": "base64", "media_type": att.mime_type, "data": att.base64()}
        if att.kind == "image":
            blocks.append({"type": "image", "source": source})
        elif att.kind == "pdf":
            blocks.append({"type": "document", "source": source})
        else:
            text = att.data.decode("utf-8", errors="replace")
            blocks.append({"type": "text", "text": f"--- {att.name or 'attachment'} ---\n{text}"})
    blocks.append({"type": "text", "text": request.prompt})
    if request.prompt_cache:
        blocks[-1]["cache_control"] = _EPHEMERAL
    return {"role": "user", "content": blocks}


def _tool_schema(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "object":
        return schema
    defs = {k: schema[k] for k in ("$defs", "definitions") if k in schema}
    inner = {k: v for k, v in schema.items() if k not in defs}
    return {"type": "object", "properties": {_WRAPPED: inner}, "required": [_WRAPPED], **defs}


def build_anthropic_params(request: LLMRequest) -> dict[str, Any]:
    """The Messages API body for a request (pure: no network)."""
    messages = [_first_message(request)]
    messages += [{"role": role, "content": text} for role, text in request.turns]
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if request.system:
        block: dict[str, Any] = {"type": "text", "text": request.system}
        if request.prompt_cache:
            block["cache_control"] = _EPHEMERAL
        params["system"] = [block]
    if request.schema is not None:
        name = request.schema_name
        params["tools"] = [{
            "name": name,
            "description": "Give your answer by calling this tool: its input is the answer.",
            "input_schema": _tool_schema(dict(request.schema)),
        }]  # fmt: skip
        params["tool_choice"] = {"type": "tool", "name": name}
    return {**params, **request.extra}


def anthropic_usage(raw: Any) -> Usage:
    """The :class:`Usage` of an Anthropic ``usage`` object (dict or SDK model): the prompt counts the
    uncached input, the cache writes and the cache reads, as Anthropic bills them apart."""
    if raw is not None and not isinstance(raw, dict):
        dump = getattr(raw, "model_dump", None)
        raw = dump() if callable(dump) else {}
    usage: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    written, read = count("cache_creation_input_tokens"), count("cache_read_input_tokens")
    return Usage(
        count("input_tokens") + written + read,
        count("output_tokens"),
        cached_input_tokens=read,
        cache_write_tokens=written,
    )


def parse_message(data: Any, request: LLMRequest) -> tuple[str, Usage, str]:
    """(text, usage, stop reason) of a Messages API body; a forced tool call's input is the text (JSON)."""
    try:
        blocks = data["content"]
        if not isinstance(blocks, list):
            raise TypeError
    except (KeyError, TypeError):
        raise MalformedResponseError(f"Anthropic's answer has no content list: {str(data)[:200]!r}") from None
    tool_inputs = [b.get("input") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
    if request.schema is not None and tool_inputs:
        value = tool_inputs[0]
        if request.schema.get("type") != "object" and isinstance(value, dict) and _WRAPPED in value:
            value = value[_WRAPPED]
        text = json.dumps(value)
    else:
        text = "".join(
            str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
        )
    reason = data.get("stop_reason")
    return text, anthropic_usage(data.get("usage")), reason if isinstance(reason, str) else ""


def translate_anthropic_error(exc: BaseException, api_key: str | None = None) -> KaguraError:
    """The one boundary: an ``anthropic`` SDK exception -> the matching ``kagura.errors`` class.

    429 -> ``RateLimitedError``, 529 (overloaded) and other 5xx -> ``ServerError`` (both retryable).
    The result keeps no reference to ``exc`` and its message has the key redacted.
    """
    if isinstance(exc, KaguraError):
        return exc
    import anthropic

    msg = redact_text(str(exc), api_key)
    if isinstance(exc, anthropic.APITimeoutError):
        return KaguraTimeoutError(f"the Anthropic request timed out: {msg}")
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderConnectionError(f"could not reach Anthropic: {msg}")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return MalformedResponseError(f"Anthropic sent an invalid response: {msg}")
    if isinstance(exc, anthropic.APIStatusError):
        error = error_for_status(
            exc.status_code,
            msg,
            service="Anthropic",
            key_hint=_KEY_HINT,
            retry_after=retry_after_of(exc.response.headers),
        )
        if isinstance(error, RetryableError):
            error.headers = dict(exc.response.headers)
        return error
    if isinstance(exc, ValueError):
        return MalformedResponseError(f"Anthropic sent a response that is not valid JSON: {msg}")
    return LLMError(f"Anthropic call failed ({type(exc).__name__}): {msg}")


@register_provider
class AnthropicProvider(Provider):
    """Claude through Anthropic's Messages API: text, images and PDFs, streaming, prompt caching."""

    name: ClassVar[str] = "anthropic"
    accepted_kinds: ClassVar[frozenset[str]] = frozenset({"image", "pdf", "text"})
    accepted_mime_types: ClassVar[frozenset[str] | None] = _IMAGE_TYPES | _TEXT_TYPES | {"application/pdf"}
    image_tokens: ClassVar[int] = 1600  # Anthropic's (width x height) / 750 for a ~1.2 megapixel image
    pdf_tokens_per_page: ClassVar[int] = 2250  # Anthropic documents 1,500-3,000 a page (text + image)

    def __init__(self) -> None:
        self._clients: _Clients = weakref.WeakKeyDictionary()

    def sdk_client(self, base_url: str | None, api_key: str | None) -> Any:
        """This provider's ``AsyncAnthropic`` for (base_url, key) on the running loop (made on first use)."""
        return _client(self._clients, base_url, api_key)

    async def prepare(self, request: LLMRequest) -> None:
        """Import the SDK (off the event loop, the first time) and build this loop's client for the key, so
        a call admitted by the budget leaves at once (no cold-start burst)."""
        if "anthropic" not in sys.modules:
            await asyncio.to_thread(importlib.import_module, "anthropic")
        self.sdk_client(request.base_url, request.api_key)

    async def aclose(self) -> None:
        """Close the SDK clients made on the running loop; forget those of other loops."""
        mine = self._clients.pop(asyncio.get_running_loop(), {})
        self._clients = weakref.WeakKeyDictionary()
        for client in mine.values():
            await client.close()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        client = self.sdk_client(request.base_url, request.api_key)
        try:
            raw: Any = await client.post(
                "/v1/messages",
                body=build_anthropic_params(request),
                cast_to=object,
                options={"timeout": request.timeout, "headers": _RAW},
            )
            data = raw.parse()
            if inspect.isawaitable(data):  # the SDK's async raw response parses asynchronously
                data = await data
        except Exception as exc:
            error = translate_anthropic_error(exc, request.api_key)
        else:
            text, usage, reason = parse_message(data, request)
            return LLMResponse(
                text,
                usage,
                model=request.model,
                provider=self.name,
                headers=raw.headers,
                finish_reason=reason,
            )
        raise error  # outside the except block: the SDK exception is not kept as __context__

    async def post_json(self, path: str, body: dict[str, Any], request: LLMRequest) -> RawResponse:
        """An OpenAI chat body (``/chat/completions``, as a job or a batch's online fallback sends it) through
        the Messages API, answered as an OpenAI chat completion: the same output line whichever provider."""
        if path.rstrip("/") != "/chat/completions":
            return await super().post_json(path, body, request)
        from kagura.core.llm.providers._anthropic_wire import openai_completion, to_anthropic_params

        client = self.sdk_client(request.base_url, request.api_key)
        try:
            params = to_anthropic_params(body)
            raw: Any = await client.post("/v1/messages", body=params, cast_to=object,
                                         options={"timeout": request.timeout, "headers": _RAW})  # fmt: skip
            data = raw.parse()
            if inspect.isawaitable(data):
                data = await data
        except ValueError as exc:
            error: KaguraError = InvalidRequestError(str(exc))
        except Exception as exc:
            error = translate_anthropic_error(exc, request.api_key)
        else:
            completion = openai_completion(data if isinstance(data, dict) else {})
            usage = anthropic_usage(data.get("usage") if isinstance(data, dict) else None)
            request_id = str(completion.get("id") or "")
            return RawResponse(raw.status_code, completion, request_id, usage, raw.headers)
        raise error  # outside the except block: the SDK exception is not kept as __context__

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        client = self.sdk_client(request.base_url, request.api_key)
        params = {**build_anthropic_params(request), "stream": True}
        usage = Usage()
        try:
            stream: Any = await client.messages.create(**params, timeout=request.timeout)
            async for event in stream:
                kind = getattr(event, "type", "")
                if kind == "message_start":
                    usage = anthropic_usage(event.message.usage)
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    yield StreamChunk(event.delta.text)
                elif kind == "message_delta" and getattr(event, "usage", None) is not None:
                    output = event.usage.output_tokens or 0
                    usage = Usage(
                        usage.prompt_tokens, output, usage.cached_input_tokens, usage.cache_write_tokens
                    )
        except (AttributeError, TypeError) as exc:
            error: KaguraError | None = MalformedResponseError(
                f"Anthropic sent a malformed stream event: {exc}"
            )
        except Exception as exc:
            error = translate_anthropic_error(exc, request.api_key)
        else:
            error = None
        if error is not None:
            raise error  # outside the except block: the SDK exception is not kept as __context__
        yield StreamChunk("", usage)
