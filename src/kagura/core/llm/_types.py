"""What every provider speaks: :class:`LLMRequest` in, :class:`LLMResponse` (with :class:`Usage`) out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kagura.core.llm._attachments import Attachment

__all__ = ["LLMRequest", "LLMResponse", "RawResponse", "Usage"]


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (or a sum of calls: ``Usage`` supports ``+``)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens
        )


@dataclass(frozen=True)
class LLMResponse:
    """A completion: its ``text`` and token ``usage``. ``cached`` is True when it cost no request
    (a response-cache hit, or a call that joined an identical call already in flight). ``headers`` are
    the HTTP response headers when the provider surfaces them (the quota headers feed adaptive control);
    they are not cached."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    provider: str = ""
    cached: bool = False
    headers: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )


@dataclass(frozen=True)
class LLMRequest:
    """Everything a provider needs for one call. ``api_key`` never enters the cache key or a repr."""

    model: str
    prompt: str
    system: str | None = None
    attachments: tuple[Attachment, ...] = ()
    temperature: float = 0.0
    max_tokens: int | None = None
    timeout: float = 60.0
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def sampling_params(self) -> dict[str, Any]:
        """The parameters that change the answer (part of the cache key)."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, **self.extra}


@dataclass(frozen=True)
class RawResponse:
    """An endpoint's answer to a body posted as-is (:meth:`LLMClient.send`): the HTTP ``status_code``, the
    parsed JSON ``body``, the ``request_id`` the server gave (``x-request-id``, else the body's ``id``, else
    ``""``) and the ``headers``. Statuses that are retried (429, 408, 5xx) never arrive here: they raise."""

    status_code: int
    body: Any
    request_id: str = ""
    headers: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def usage(self) -> Usage:
        """The body's ``usage`` (prompt and completion tokens; zeros when absent)."""
        usage = self.body.get("usage") if isinstance(self.body, dict) else None
        if not isinstance(usage, dict):
            return Usage()
        counts = [usage.get(name) for name in ("prompt_tokens", "completion_tokens")]
        prompt, completion = (c if isinstance(c, int) and not isinstance(c, bool) else 0 for c in counts)
        return Usage(prompt, completion)
