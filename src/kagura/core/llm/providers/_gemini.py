"""The Gemini provider, on ``google-genai`` (optional extra ``kagura[gemini]``, imported lazily).

Small attachments go inline; large ones (over ``INLINE_LIMIT`` bytes in total) through the File API: upload,
wait until the file is ACTIVE, use it, delete it after the call. SDK errors are translated in
:func:`translate_gemini_error` and nowhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
import weakref
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from kagura._redact import redact_text
from kagura.core.llm._types import LLMRequest, LLMResponse, Usage
from kagura.core.llm.providers._errors import check_api_key, error_for_status
from kagura.core.llm.providers._quota_headers import retry_after_of
from kagura.core.llm.providers._registry import Provider, StreamChunk, register_provider
from kagura.errors import (
    AuthenticationError,
    ConfigurationError,
    KaguraError,
    KaguraTimeoutError,
    LLMError,
    MalformedResponseError,
    ProviderConnectionError,
    RetryableError,
    ServerError,
    UnsupportedAttachmentError,
)

__all__ = ["INLINE_LIMIT", "GeminiProvider", "build_gemini_config", "gemini_usage", "translate_gemini_error"]

INLINE_LIMIT = 15 * 2**20  # Gemini takes up to ~20 MB inline per request; keep a margin for the JSON
FILE_POLL_INTERVAL = 1.0
_Clients = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str | None, str], Any]]


def _genai() -> Any:
    try:
        from google import genai
    except ImportError:
        raise ConfigurationError(
            "the Gemini provider needs the google-genai package: pip install 'kagura[gemini]'"
        ) from None
    return genai


def _client(clients: _Clients, api_key: str | None, base_url: str | None, timeout: float) -> Any:
    if not api_key:
        raise AuthenticationError("no Gemini API key: set GEMINI_API_KEY or LLMConfig(gemini_api_key=...)")
    check_api_key(api_key, "GEMINI_API_KEY / LLMConfig(gemini_api_key=...)")
    genai = _genai()
    per_loop = clients.setdefault(asyncio.get_running_loop(), {})
    key = (base_url, hashlib.sha256(api_key.encode()).hexdigest())
    if key not in per_loop:
        options = genai.types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout * 1000),
            retry_options=genai.types.HttpRetryOptions(attempts=1),
        )
        per_loop[key] = genai.Client(api_key=api_key, http_options=options)
    return per_loop[key]


def build_gemini_config(request: LLMRequest) -> Any:
    """The ``GenerateContentConfig`` for a request (pure: no network)."""
    types = _genai().types
    structured: dict[str, Any] = {}
    if request.schema is not None:
        structured = {"response_mime_type": "application/json", "response_json_schema": dict(request.schema)}
    return types.GenerateContentConfig(
        temperature=request.temperature,
        max_output_tokens=request.max_tokens,
        system_instruction=request.system,
        **structured,
        **request.extra,
    )


def inline_parts(request: LLMRequest) -> list[Any] | None:
    """The ``contents`` with every attachment inline, or None when they are too big to go inline (pure)."""
    if sum(a.size for a in request.attachments) > INLINE_LIMIT:
        return None
    types = _genai().types
    parts: list[Any] = [types.Part.from_text(text=request.prompt)]
    parts += [types.Part.from_bytes(data=a.data, mime_type=a.mime_type) for a in request.attachments]
    return with_turns(request, parts)


def with_turns(request: LLMRequest, parts: list[Any]) -> list[Any]:
    """``parts`` (the first user turn) alone, or the whole conversation as ``Content``s when the request
    has later turns (a structured call's repair)."""
    if not request.turns:
        return parts
    types = _genai().types
    contents = [types.Content(role="user", parts=parts)]
    for role, text in request.turns:
        contents.append(
            types.Content(
                role="model" if role == "assistant" else "user", parts=[types.Part.from_text(text=text)]
            )
        )
    return contents


def gemini_usage(meta: Any) -> Usage:
    """The :class:`Usage` of Gemini's ``usage_metadata``: the prompt (its cached share from
    ``cached_content_token_count``), and the answer with its thinking tokens (``thoughts_token_count``,
    billed as output)."""

    def count(name: str) -> int:
        value = getattr(meta, name, None)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    thoughts = count("thoughts_token_count")
    return Usage(
        count("prompt_token_count"),
        count("candidates_token_count") + thoughts,
        cached_input_tokens=count("cached_content_token_count"),
        reasoning_tokens=thoughts,
    )


def translate_gemini_error(exc: BaseException, api_key: str | None = None) -> KaguraError:
    """The one boundary: a google-genai (or transport) exception -> the matching ``kagura.errors`` class.

    The result keeps no reference to ``exc`` (whose request carries the key header) and its message has the
    key redacted; raise it outside the ``except`` block (see :mod:`._errors`).
    """
    if isinstance(exc, KaguraError):
        return exc
    from google.genai import errors

    msg = redact_text(str(exc), api_key)
    if isinstance(exc, errors.APIError):
        code = exc.code
        raw = getattr(getattr(exc, "response", None), "headers", None) or {}
        headers = {str(k).lower(): str(v) for k, v in dict(raw).items()}
        error = error_for_status(
            code, msg, service="Gemini", key_hint="GEMINI_API_KEY", retry_after=retry_after_of(headers)
        )
        if isinstance(error, RetryableError):
            error.headers = headers
        return error
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, TimeoutError) or "TimeoutException" in names:
        return KaguraTimeoutError(f"the Gemini request timed out: {msg}")
    if isinstance(exc, OSError) or names & {"ClientError", "TransportError", "ConnectError"}:
        return ProviderConnectionError(f"could not reach Gemini: {msg}")
    return LLMError(f"Gemini call failed ({type(exc).__name__}): {msg}")


@register_provider
class GeminiProvider(Provider):
    """Google Gemini through ``google-genai``: text, images, audio, video and PDFs."""

    name: ClassVar[str] = "gemini"
    accepted_kinds: ClassVar[frozenset[str]] = frozenset({"image", "audio", "video", "pdf", "text"})
    image_tokens: ClassVar[int] = (
        258  # Gemini's documented cost of an image up to 384 px (tiles cost 258 each)
    )

    def __init__(self) -> None:
        self._clients: _Clients = weakref.WeakKeyDictionary()  # one google-genai client per loop and key

    async def aclose(self) -> None:
        """Close the google-genai clients made on the running loop; forget those of other loops."""
        mine = self._clients.pop(asyncio.get_running_loop(), {})
        self._clients = weakref.WeakKeyDictionary()
        for client in mine.values():
            closer = getattr(getattr(client, "aio", None), "aclose", None)
            if closer is not None:
                await closer()

    async def prepare(self, request: LLMRequest) -> None:
        """Import google-genai (off the event loop, the first time) and build this loop's client."""
        if "google.genai" not in sys.modules:
            await asyncio.to_thread(_genai)
        _client(self._clients, request.api_key, request.base_url, request.timeout)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        client = _client(self._clients, request.api_key, request.base_url, request.timeout)
        uploaded: list[str] = []
        error: KaguraError | None = None
        try:
            parts = inline_parts(request)
            if parts is None:
                parts = [_genai().types.Part.from_text(text=request.prompt)]
                for att in request.attachments:
                    parts.append(await self._upload(client, att.data, att.mime_type, uploaded))
                parts = with_turns(request, parts)
            response = await client.aio.models.generate_content(
                model=request.model, contents=parts, config=build_gemini_config(request)
            )
        except Exception as exc:
            error, response = translate_gemini_error(exc, request.api_key), None
        finally:
            for name in uploaded:
                try:
                    await client.aio.files.delete(name=name)
                except Exception:  # best effort: the File API also expires files after 48 h
                    pass
        if error is not None or response is None:  # raised outside the except block: no SDK __context__
            raise error or MalformedResponseError("Gemini sent no answer")
        try:
            text = response.text
        except Exception as exc:
            raise MalformedResponseError(f"Gemini's answer has no text: {exc}") from None
        if not isinstance(text, str):
            raise MalformedResponseError(f"Gemini's answer has no text (blocked or empty): {response!s:.200}")
        usage = gemini_usage(getattr(response, "usage_metadata", None))
        return LLMResponse(text, usage, model=request.model, provider=self.name)

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """Text deltas from ``generate_content_stream``; attachments must fit inline (else use complete)."""
        client = _client(self._clients, request.api_key, request.base_url, request.timeout)
        parts = inline_parts(request)
        if parts is None:
            raise UnsupportedAttachmentError(
                f"attachments over {INLINE_LIMIT} bytes cannot be streamed with Gemini: "
                "use complete() or call_llm()"
            )
        usage: Usage | None = None
        try:
            stream = await client.aio.models.generate_content_stream(
                model=request.model, contents=parts, config=build_gemini_config(request)
            )
            async for chunk in stream:
                meta = getattr(chunk, "usage_metadata", None)
                if meta is not None:
                    usage = gemini_usage(meta)
                if chunk.text:
                    yield StreamChunk(chunk.text)
        except Exception as exc:
            error = translate_gemini_error(exc, request.api_key)
        else:
            error = None
        if error is not None:
            raise error  # outside the except block: the SDK exception is not kept as __context__
        if usage is not None:
            yield StreamChunk("", usage)

    async def _upload(self, client: Any, data: bytes, mime_type: str, uploaded: list[str]) -> Any:
        types = _genai().types
        config = types.UploadFileConfig(mime_type=mime_type)
        file = await asyncio.to_thread(client.files.upload, file=io.BytesIO(data), config=config)
        uploaded.append(file.name)
        while str(getattr(file.state, "value", file.state)) == "PROCESSING":
            await asyncio.sleep(FILE_POLL_INTERVAL)
            file = await client.aio.files.get(name=file.name)
        state = str(getattr(file.state, "value", file.state))
        if state not in ("ACTIVE", "None", "STATE_UNSPECIFIED"):
            raise ServerError(f"Gemini could not process the uploaded {mime_type} file (state {state})")
        return types.Part.from_uri(file_uri=file.uri, mime_type=mime_type)
