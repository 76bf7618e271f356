"""The OpenAI-compatible provider: any ``/v1`` endpoint, over kagura's lean HTTP path or the ``openai`` SDK.

Non-streaming calls (:meth:`~OpenAICompatibleProvider.complete`, :meth:`~OpenAICompatibleProvider.post_json`)
go over the lean HTTP/1.1 path (:mod:`._http`: a keep-alive pool per event loop, a fraction of the SDK's
client CPU per call) unless ``KAGURA_HTTP=sdk`` is set or a proxy applies; streaming and those cases use
one ``AsyncOpenAI`` client (with its own retries off: kagura retries) per event loop and (base_url, key).
Both are owned by the provider instance, reused by every call and closed by
:meth:`OpenAICompatibleProvider.aclose`. Responses carry the HTTP headers (the quota headers feed adaptive
control), and so do the errors of failed calls. HTTP statuses are translated into ``kagura.errors`` in
:func:`._openai_wire.status_error` for both paths; SDK exceptions in :func:`translate_openai_error`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import sys
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from kagura._redact import redact_text
from kagura.core.llm._types import LLMRequest, LLMResponse, RawResponse
from kagura.core.llm.providers._errors import check_api_key
from kagura.core.llm.providers._openai_wire import (
    AUDIO_FORMATS,
    KEY_HINT,
    build_messages,
    chat_params,
    finish_reason,
    parse_completion,
    request_id,
    status_answer,
    status_error,
    usage_of,
)
from kagura.core.llm.providers._registry import Provider, StreamChunk, register_provider
from kagura.errors import (
    AuthenticationError,
    KaguraError,
    KaguraTimeoutError,
    LLMError,
    MalformedResponseError,
    ProviderConnectionError,
)

if TYPE_CHECKING:
    import openai

    from kagura.core.llm.providers._http import LeanEndpoint
    from kagura.core.llm.providers._http_pool import HttpPool

__all__ = [
    "OpenAICompatibleProvider",
    "build_messages",
    "parse_completion",
    "translate_openai_error",
    "usage_of",
]

_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_TEXT_TYPES = {"text/plain", "text/markdown", "text/csv", "text/html", "text/x-python"}
_KEY_HINT = KEY_HINT
_NO_KEY = "not-needed"  # local servers (Ollama, vLLM, llama.cpp) ignore the key but the SDK wants one
_LEAN_MODULE = "kagura.core.llm.providers._openai_lean"
_RAW = {"X-Stainless-Raw-Response": "true"}  # what the SDK's with_raw_response sends: keep the headers

# Per event loop: the SDK clients by (base_url, key digest), the lean endpoints by (base_url, "lean:" +
# key digest; None: this base URL goes through the SDK) and the lean path's pool under ("pool", "").
_Last: TypeAlias = tuple[
    "weakref.ref[asyncio.AbstractEventLoop]", str | None, str | None, "LeanEndpoint | None"
]
_Clients = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str | None, str], Any]]


def _check_key(base_url: str | None, api_key: str | None) -> None:
    if api_key is None and base_url is None:
        raise AuthenticationError(
            "no API key for the OpenAI API: set KAGURA_LLM_API_KEY (or OPENAI_API_KEY), "
            "or LLMConfig(api_key=...), "
            "or point LLMConfig(base_url=...) / KAGURA_LLM_BASE_URL at a local OpenAI-compatible server"
        )
    check_api_key(api_key, _KEY_HINT)


def _client(clients: _Clients, base_url: str | None, api_key: str | None) -> openai.AsyncOpenAI:
    _check_key(base_url, api_key)
    import openai  # imported on first use: importing kagura stays fast

    key = api_key or _NO_KEY
    per_loop = clients.setdefault(asyncio.get_running_loop(), {})
    cache_key = (base_url, hashlib.sha256(key.encode()).hexdigest())
    client = per_loop.get(cache_key)
    if client is None:
        client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0)
        per_loop[cache_key] = client
    return client


def _lean(clients: _Clients, base_url: str | None, api_key: str | None) -> LeanEndpoint | None:
    """The lean endpoint for (base_url, key) on the running loop, or None when the SDK carries the calls."""
    key = api_key or _NO_KEY
    per_loop = clients.setdefault(asyncio.get_running_loop(), {})
    cache_key = (base_url, "lean:" + hashlib.sha256(key.encode()).hexdigest())
    try:
        return per_loop[cache_key]
    except KeyError:
        pass
    _check_key(base_url, api_key)
    from kagura.core.llm.providers._http import LeanEndpoint, lean_base_url

    url = lean_base_url(base_url)
    endpoint = None
    if url is not None:
        pool: HttpPool | None = per_loop.get(("pool", ""))
        if pool is None:
            from kagura.core.llm.providers._http_pool import HttpPool

            pool = per_loop[("pool", "")] = HttpPool()
        endpoint = LeanEndpoint(pool, url, key)
    per_loop[cache_key] = endpoint
    return endpoint


def translate_openai_error(exc: BaseException, api_key: str | None = None) -> KaguraError:
    """The one boundary: an ``openai`` SDK exception -> the matching ``kagura.errors`` class.

    The result keeps no reference to ``exc`` (whose request carries the ``Authorization`` header) and its
    message has the key redacted; raise it outside the ``except`` block (see :mod:`._errors`).
    """
    if isinstance(exc, KaguraError):
        return exc
    import openai

    msg = redact_text(str(exc), api_key)
    if isinstance(exc, openai.APITimeoutError):
        return KaguraTimeoutError(f"the LLM request timed out: {msg}")
    where = _request_url(exc)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderConnectionError(f"could not reach the LLM server{where and ' at ' + where}: {msg}")
    if isinstance(exc, openai.APIResponseValidationError):
        return MalformedResponseError(f"the LLM server sent an invalid response: {msg}")
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, msg, exc.response.headers, where)
    if isinstance(exc, ValueError):  # the body was not JSON
        return MalformedResponseError(f"the LLM server sent a response that is not valid JSON: {msg}")
    return LLMError(f"LLM call failed ({type(exc).__name__}): {msg}")


def _request_url(exc: BaseException) -> str:
    """The URL (scheme, host, port and path: no credentials, no query) an SDK error was about, or ""."""
    from urllib.parse import urlsplit

    request = getattr(exc, "request", None)
    try:
        parts = urlsplit(str(request.url)) if request is not None else None
    except Exception:  # an SDK error built without a request
        return ""
    if parts is None or not parts.hostname:
        return ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _status_answer(exc: BaseException) -> RawResponse | None:
    """A final HTTP answer that is not an error of the call itself (400, 404, 422...) as a RawResponse;
    None for what must raise: retryable statuses (408, 429, 5xx), refused keys (401/403), no answer."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    return status_answer(exc.status_code, exc.response.headers, exc.response.content)


@register_provider
class OpenAICompatibleProvider(Provider):
    """Any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio)."""

    name: ClassVar[str] = "openai"
    accepted_kinds: ClassVar[frozenset[str]] = frozenset({"image", "audio", "pdf", "text"})
    accepted_mime_types: ClassVar[frozenset[str] | None] = frozenset(
        _IMAGE_TYPES | set(AUDIO_FORMATS) | _TEXT_TYPES | {"application/pdf"}
    )

    def __init__(self) -> None:
        self._clients: _Clients = weakref.WeakKeyDictionary()
        # the last (loop, base_url, key) -> lean endpoint looked up: a job's calls all ask the same
        self._last: _Last | None = None

    def _endpoint(self, request: LLMRequest) -> LeanEndpoint | None:
        """The lean endpoint for the request's base URL and key on the running loop (None: the SDK)."""
        loop = asyncio.get_running_loop()
        last = self._last
        if (
            last is not None
            and last[0]() is loop
            and last[1] == request.base_url
            and last[2] == request.api_key
        ):
            return last[3]
        endpoint = _lean(self._clients, request.base_url, request.api_key)
        self._last = (weakref.ref(loop), request.base_url, request.api_key, endpoint)
        return endpoint

    def sdk_client(self, base_url: str | None, api_key: str | None) -> openai.AsyncOpenAI:
        """This provider's ``AsyncOpenAI`` for (base_url, key) on the running loop (made on first use)."""
        return _client(self._clients, base_url, api_key)

    async def prepare(self, request: LLMRequest) -> None:
        """Build this loop's lean endpoint for the key; when the SDK carries the calls, import it (off the
        event loop, the first time) and build this loop's SDK client."""
        if _LEAN_MODULE not in sys.modules:  # imports urllib.request and ssl: off the event loop too
            await asyncio.to_thread(importlib.import_module, _LEAN_MODULE)
        if self._endpoint(request) is not None:
            return
        if "openai" not in sys.modules:
            await asyncio.to_thread(importlib.import_module, "openai")
        self.sdk_client(request.base_url, request.api_key)

    async def aclose(self) -> None:
        """Close the SDK clients and the lean path's connections of the running loop; forget other loops'."""
        loop = asyncio.get_running_loop()
        mine = self._clients.pop(loop, {})
        self._clients = weakref.WeakKeyDictionary()
        self._last = None
        for (_, kind), held in mine.items():
            if kind == "":
                await held.aclose()  # the lean path's pool
            elif not kind.startswith("lean:"):
                await held.close()  # an SDK client

    async def complete(self, request: LLMRequest) -> LLMResponse:
        params = chat_params(request)
        timeout = params.pop("timeout")
        endpoint = self._endpoint(request)
        if endpoint is not None:
            from kagura.core.llm.providers._openai_lean import lean_complete

            return await lean_complete(endpoint, params, request, self.name)
        client = self.sdk_client(request.base_url, request.api_key)
        try:
            # The SDK's documented raw-endpoint call (with the raw-response header, as with_raw_response
            # sends, to keep the headers): same transport, auth and error classes as
            # ``chat.completions.create``, without its per-call TypedDict transform and pydantic model
            # construction (about a third of its client-side cost, measured by the llm benchmark).
            raw: Any = await client.post(
                "/chat/completions",
                body=params,
                cast_to=object,
                options={"timeout": timeout, "headers": _RAW},
            )
            data = raw.parse()
        except Exception as exc:
            error = translate_openai_error(exc, request.api_key)
        else:
            text, usage = parse_completion(data)
            return LLMResponse(
                text, usage, model=request.model, provider=self.name, headers=raw.headers,
                finish_reason=finish_reason(data),
            )  # fmt: skip
        raise error  # outside the except block: the SDK exception is not kept as __context__

    async def post_json(self, path: str, body: dict[str, Any], request: LLMRequest) -> RawResponse:
        endpoint = self._endpoint(request)
        if endpoint is not None:
            from kagura.core.llm.providers._openai_lean import lean_post_json

            return await lean_post_json(endpoint, path, body, request)
        client = self.sdk_client(request.base_url, request.api_key)
        try:
            raw: Any = await client.post(
                path, body=body, cast_to=object, options={"timeout": request.timeout, "headers": _RAW}
            )
            data = raw.parse()
        except Exception as exc:
            answered = _status_answer(exc)
            if answered is not None:
                return answered
            error = translate_openai_error(exc, request.api_key)
        else:
            return RawResponse(
                raw.status_code,
                data,
                request_id(raw.headers, data),
                usage_of(data.get("usage") if isinstance(data, dict) else None),
                raw.headers,
            )
        raise error  # outside the except block: the SDK exception is not kept as __context__

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        client = self.sdk_client(request.base_url, request.api_key)
        params = {**chat_params(request), "stream": True, "stream_options": {"include_usage": True}}
        try:
            stream: Any = await client.chat.completions.create(**params)
            async for chunk in stream:
                usage = getattr(chunk, "usage", None)
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta or usage:
                    yield StreamChunk(
                        delta or "",
                        usage_of(usage) if usage else None,
                    )
        except (AttributeError, IndexError, TypeError) as exc:
            error: KaguraError = MalformedResponseError(
                f"the LLM server sent a malformed stream chunk: {exc}"
            )
        except Exception as exc:
            error = translate_openai_error(exc, request.api_key)
        else:
            return
        raise error  # outside the except block: the SDK exception is not kept as __context__
