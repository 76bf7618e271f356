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
    """Token counts of one call (or a sum of calls: ``Usage`` supports ``+``), and what it cost.

    ``prompt_tokens`` counts every input token, cached ones included: ``cached_input_tokens`` of them were
    read from the provider's prompt cache and ``cache_write_tokens`` were written to it (each billed at its
    own rate). ``completion_tokens`` counts every output token, of which ``reasoning_tokens`` were hidden
    reasoning (billed as output). ``input_tokens``/``output_tokens`` are the same counts under their
    newer names. ``cost_usd`` is the price in US dollars from the client's :class:`PriceTable`; ``None``
    when unknown (a model without a price). A sum's cost is unknown when any priced part's is, except
    that an empty ``Usage()`` adds nothing.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def input_tokens(self) -> int:
        return self.prompt_tokens

    @property
    def output_tokens(self) -> int:
        return self.completion_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input rate (neither read from nor written to the cache)."""
        return max(0, self.prompt_tokens - self.cached_input_tokens - self.cache_write_tokens)

    @property
    def is_empty(self) -> bool:
        """No tokens and no cost: the neutral element of ``+``."""
        return self == _EMPTY

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        if other.is_empty:
            return self
        if self.is_empty:
            return other
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            cost,
        )


_EMPTY = Usage()


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
    #: the validated answer of a call made with a ``schema`` (a pydantic model instance, or a dict for a
    #: JSON Schema); None otherwise
    parsed: Any = field(default=None, compare=False)
    #: answers that failed validation and were sent back for repair (their usage is in ``usage``)
    repairs: int = 0
    #: why the model stopped ("stop", "length", "tool_use", ...), as the provider said it; "" when unknown
    finish_reason: str = ""


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
    #: the conversation after the prompt, as ``(role, text)`` with role ``"assistant"`` or ``"user"``
    #: (a structured call's repair: the invalid answer, then what was wrong with it)
    turns: tuple[tuple[str, str], ...] = ()
    #: a JSON Schema the answer must match (the provider's structured-output mode), named ``schema_name``
    schema: Mapping[str, Any] | None = None
    schema_name: str = "response"

    def sampling_params(self) -> dict[str, Any]:
        """The parameters that change the answer (part of the cache key)."""
        params = {"temperature": self.temperature, "max_tokens": self.max_tokens, **self.extra}
        if self.turns:
            params["turns"] = [list(turn) for turn in self.turns]
        if self.schema is not None:
            params["schema"] = {"name": self.schema_name, "schema": self.schema}
        return params


@dataclass(frozen=True)
class RawResponse:
    """An endpoint's answer to a body posted as-is (:meth:`LLMClient.send`): the HTTP ``status_code``, the
    parsed JSON ``body``, the ``request_id`` the server gave (``x-request-id``, else the body's ``id``, else
    ``""``), its ``usage`` (priced by the client's table) and the ``headers``. Statuses that are retried
    (429, 408, 5xx) never arrive here: they raise."""

    status_code: int
    body: Any
    request_id: str = ""
    usage: Usage = field(default_factory=lambda: Usage())
    headers: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300
