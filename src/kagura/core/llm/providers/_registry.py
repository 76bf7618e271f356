"""The provider interface and its registry. A provider is one small class with one async method.

To add one::

    @register_provider
    class MyProvider(Provider):
        name = "mine"
        accepted_kinds = frozenset({"image"})
        async def complete(self, request: LLMRequest) -> LLMResponse: ...

and use it with ``LLMConfig(provider="mine", ...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, TypeVar

from kagura.core.llm._types import LLMRequest, LLMResponse, RawResponse, Usage
from kagura.errors import InvalidRequestError, UnsupportedAttachmentError

__all__ = [
    "Provider",
    "StreamChunk",
    "get_provider",
    "new_provider",
    "provider_class",
    "provider_names",
    "register_provider",
]

_REGISTRY: dict[str, type[Provider]] = {}
P = TypeVar("P", bound="type[Provider]")


class StreamChunk:
    """One piece of a streamed answer: a text ``delta``, and ``usage`` on the last chunk when known."""

    __slots__ = ("delta", "usage")

    def __init__(self, delta: str = "", usage: Usage | None = None) -> None:
        self.delta = delta
        self.usage = usage


class Provider:
    """Base class: ``complete(request) -> LLMResponse``; errors are raised as ``kagura.errors`` only.

    Class attributes: ``name`` (registry key), ``accepted_kinds`` (attachment kinds it takes: "image",
    "audio", "video", "pdf", "text"), ``accepted_mime_types`` (None = any MIME type of an accepted kind).
    """

    name: ClassVar[str] = ""
    accepted_kinds: ClassVar[frozenset[str]] = frozenset()
    accepted_mime_types: ClassVar[frozenset[str] | None] = None
    # Token costs of attachments for TPM estimates. Defaults: OpenAI's high-detail 1024 px image (765),
    # and Gemini's documented 32 tokens per audio second, 263 per video second, 258 per PDF page.
    image_tokens: ClassVar[int] = 765
    audio_tokens_per_s: ClassVar[float] = 32.0
    video_tokens_per_s: ClassVar[float] = 263.0
    pdf_tokens_per_page: ClassVar[int] = 258

    async def prepare(self, request: LLMRequest) -> None:
        """Make ready everything ``complete``/``stream`` need for ``request`` (import the SDK, build its
        client), so that the call leaves as soon as the budget admits it. The client awaits this *before*
        admission: slow set-up after it would hold admitted calls back and release them all at once."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        raise NotImplementedError

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """Yield text deltas; the default yields the whole answer at once."""
        response = await self.complete(request)
        yield StreamChunk(response.text, response.usage)

    async def post_json(self, path: str, body: dict[str, Any], request: LLMRequest) -> RawResponse:
        """POST ``body`` as-is to ``path`` under the endpoint (``"/chat/completions"``, ``"/embeddings"``);
        ``request`` gives the endpoint, key and timeout. Retryable failures raise (429, 5xx, timeouts);
        other HTTP statuses come back as a :class:`RawResponse`. Providers without raw access refuse."""
        raise InvalidRequestError(f"provider {self.name!r} cannot send raw request bodies (path {path!r})")

    async def aclose(self) -> None:
        """Close what the provider opened (SDK clients, connection pools); it may be used again after."""

    def check_attachments(self, request: LLMRequest) -> None:
        """Raise ``UnsupportedAttachmentError`` (before any call) for an attachment it cannot take."""
        for att in request.attachments:
            if att.kind not in self.accepted_kinds or (
                self.accepted_mime_types is not None and att.mime_type not in self.accepted_mime_types
            ):
                accepted = ", ".join(sorted(self.accepted_mime_types or self.accepted_kinds)) or "none"
                raise UnsupportedAttachmentError(
                    f"provider {self.name!r} (model {request.model!r}) cannot take a {att.kind} attachment "
                    f"({att.mime_type}{', ' + att.name if att.name else ''}); it accepts: {accepted}"
                )

    def estimate_tokens(self, request: LLMRequest) -> int:
        """A rough prompt+answer token estimate for TPM budgets: ~4 characters per token, plus the
        attachments at the provider's documented rates (class attributes ``*_tokens*``)."""
        tokens = (len(request.prompt) + len(request.system or "")) // 4 + 1
        for att in request.attachments:
            tokens += self.attachment_tokens(att.kind, att.size, att.duration_s, att.pages)
        return tokens + (request.max_tokens or 256)

    def attachment_tokens(self, kind: str, size: int, seconds: float | None, pages: int | None) -> int:
        """Estimated tokens of one attachment; unknown durations/page counts are guessed from the size."""
        if kind == "image":
            return self.image_tokens
        if kind == "audio":
            return int(self.audio_tokens_per_s * (seconds if seconds is not None else size / 16_000))
        if kind == "video":
            return int(self.video_tokens_per_s * (seconds if seconds is not None else size / 250_000))
        if kind == "pdf":
            return self.pdf_tokens_per_page * (pages or max(1, size // 50_000))
        return size // 4


def register_provider(cls: P) -> P:
    """Class decorator: make a provider available by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute `name`")
    _REGISTRY[cls.name] = cls
    return cls


def provider_names() -> list[str]:
    return sorted(_REGISTRY)


def provider_class(name: str) -> type[Provider]:
    """The provider class registered as ``name`` (``ValueError`` listing the registered names)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown LLM provider {name!r}; registered: {', '.join(provider_names())}"
        ) from None


def new_provider(name: str) -> Provider:
    """A new instance of the provider registered as ``name`` (an ``LLMClient`` owns its own)."""
    return provider_class(name)()


def get_provider(name: str) -> Provider:
    """A new instance of the provider registered as ``name`` (for estimates and capability checks); no
    instance is kept here: a client owns its provider (``LLMClient(..., provider=...)``)."""
    return new_provider(name)
