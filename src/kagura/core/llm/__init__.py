"""The LLM layer: :class:`LLMClient`, and ``call_llm``/``complete``/``call_llm_stream`` over it.

An :class:`LLMClient` owns one endpoint's provider, rate limiter, adaptive controller (learns the quota
from rate-limit headers and 429/503/timeout outcomes), response cache and in-flight map; ``call_llm``
and friends use a default client per endpoint.

Providers: ``"openai"`` (any OpenAI-compatible endpoint, via the official SDK), ``"anthropic"`` (Claude,
extra ``kagura[anthropic]``) and ``"gemini"`` (extra ``kagura[gemini]``); add your own with
:func:`register_provider`. Answers can be validated against a schema (``complete(..., schema=Model)``)
and priced in dollars (:class:`PriceTable`, ``response.usage.cost_usd``). Errors are ``kagura.errors``
classes; retries and RPM/TPM budgets come from ``kagura.core.parallel``; answers can be cached in SQLite.
"""

from kagura.core.llm._attachments import Attachment
from kagura.core.llm._call import call_llm, call_llm_stream, complete, default_client, default_clients
from kagura.core.llm._client import LLMClient
from kagura.core.llm._config import LLMConfig
from kagura.core.llm._pricing import PriceTable
from kagura.core.llm._telemetry import Telemetry
from kagura.core.llm._types import LLMResponse, Usage
from kagura.core.llm._usage import track_usage
from kagura.core.llm.control._adaptive_state import AdaptiveStore  # noqa: F401  (not public)
from kagura.core.llm.control._spend import SpendCap
from kagura.core.llm.providers._registry import Provider, register_provider

# isort: split
# Not public (not in __all__): kagura's own packages and tests import these from here; they may change.
from kagura.core.llm._attachments import attachment_kind  # noqa: F401
from kagura.core.llm._budget import configure_rate_limit, holding_back, limiter_for, reset_rate_limits  # noqa: F401
from kagura.core.llm._cache import ResponseCache, cache_key  # noqa: F401
from kagura.core.llm._call import DefaultClients, call_llm_sync  # noqa: F401
from kagura.core.llm._config import DEFAULT_MODEL  # noqa: F401
from kagura.core.llm._pricing import ModelPrice  # noqa: F401
from kagura.core.llm._types import LLMRequest, RawResponse  # noqa: F401
from kagura.core.llm._usage import UsageTracker, record_usage  # noqa: F401
from kagura.core.llm.control._adaptive import AdaptiveController  # noqa: F401
from kagura.core.llm.control._adaptive_state import AdaptiveState, LocalAdaptiveState  # noqa: F401
from kagura.core.llm.control._gate import ConcurrencyGate  # noqa: F401
from kagura.core.llm.providers._anthropic import AnthropicProvider  # noqa: F401
from kagura.core.llm.providers._gemini import GeminiProvider  # noqa: F401
from kagura.core.llm.providers._openai import OpenAICompatibleProvider, translate_openai_error  # noqa: F401
from kagura.core.llm.providers._quota_headers import QuotaHeaders, parse_quota_headers, retry_after_of  # noqa: F401
from kagura.core.llm.providers._registry import StreamChunk, get_provider, provider_names  # noqa: F401

__all__ = [
    "Attachment",
    "LLMClient",
    "LLMConfig",
    "LLMResponse",
    "PriceTable",
    "Provider",
    "SpendCap",
    "Telemetry",
    "Usage",
    "call_llm",
    "call_llm_stream",
    "complete",
    "default_client",
    "default_clients",
    "register_provider",
    "track_usage",
]
