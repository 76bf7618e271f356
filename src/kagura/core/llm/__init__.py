"""The LLM layer: :class:`LLMClient`, and ``call_llm``/``complete``/``call_llm_stream`` over it.

An :class:`LLMClient` owns one endpoint's provider, rate limiter, adaptive controller (learns the quota
from rate-limit headers and 429/503/timeout outcomes), response cache, in-flight map and optional
:class:`SpendCap`; everything in kagura that calls an LLM takes one. ``call_llm`` and friends take
``client=``, else use :func:`default_client` of the config (one per endpoint, in :data:`default_clients`,
closed with ``await default_clients.aclose()``). The one way to set a rate budget: the client's config,
``LLMConfig(requests_per_minute=..., tokens_per_minute=...)``.

Providers: ``"openai"`` (any OpenAI-compatible endpoint, via the official SDK), ``"anthropic"`` (Claude,
extra ``kagura[anthropic]``) and ``"gemini"`` (extra ``kagura[gemini]``); add your own with
:func:`register_provider`. Answers can be validated against a schema (``complete(..., schema=Model)``)
and priced in dollars (:class:`PriceTable`, ``response.usage.cost_usd``). Errors are ``kagura.errors``
classes; retries and RPM/TPM budgets come from ``kagura.core.parallel``; answers can be cached in SQLite.
"""

from kagura.core.llm._attachments import Attachment, attachment_kind
from kagura.core.llm._cache import ResponseCache, cache_key
from kagura.core.llm._call import (
    DefaultClients,
    call_llm,
    call_llm_stream,
    call_llm_sync,
    complete,
    default_client,
    default_clients,
)
from kagura.core.llm._client import LLMClient
from kagura.core.llm._config import DEFAULT_MODEL, LLMConfig
from kagura.core.llm._pricing import ModelPrice, PriceTable
from kagura.core.llm._telemetry import Telemetry
from kagura.core.llm._types import LLMRequest, LLMResponse, RawResponse, Usage
from kagura.core.llm._usage import UsageTracker, record_usage, track_usage
from kagura.core.llm.control._adaptive import AdaptiveController
from kagura.core.llm.control._adaptive_state import AdaptiveState, AdaptiveStore, LocalAdaptiveState
from kagura.core.llm.control._budget import configure_rate_limit, holding_back, limiter_for, reset_rate_limits
from kagura.core.llm.control._gate import ConcurrencyGate
from kagura.core.llm.control._spend import SpendCap
from kagura.core.llm.providers._anthropic import AnthropicProvider
from kagura.core.llm.providers._gemini import GeminiProvider
from kagura.core.llm.providers._openai import OpenAICompatibleProvider, translate_openai_error
from kagura.core.llm.providers._quota_headers import QuotaHeaders, parse_quota_headers, retry_after_of
from kagura.core.llm.providers._registry import (
    Provider,
    StreamChunk,
    get_provider,
    provider_names,
    register_provider,
)

__all__ = [
    "DEFAULT_MODEL",
    "AdaptiveController",
    "AdaptiveState",
    "AdaptiveStore",
    "AnthropicProvider",
    "Attachment",
    "ConcurrencyGate",
    "DefaultClients",
    "GeminiProvider",
    "LLMClient",
    "LLMConfig",
    "LLMRequest",
    "LLMResponse",
    "LocalAdaptiveState",
    "ModelPrice",
    "OpenAICompatibleProvider",
    "PriceTable",
    "Provider",
    "QuotaHeaders",
    "RawResponse",
    "ResponseCache",
    "SpendCap",
    "StreamChunk",
    "Telemetry",
    "Usage",
    "UsageTracker",
    "attachment_kind",
    "cache_key",
    "call_llm",
    "call_llm_stream",
    "call_llm_sync",
    "complete",
    "configure_rate_limit",
    "default_client",
    "default_clients",
    "get_provider",
    "holding_back",
    "limiter_for",
    "parse_quota_headers",
    "provider_names",
    "record_usage",
    "register_provider",
    "reset_rate_limits",
    "retry_after_of",
    "track_usage",
    "translate_openai_error",
]
