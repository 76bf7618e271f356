"""Reading a provider's quota from its response headers.

Formats understood (header names are case-insensitive):

- OpenAI and most OpenAI-compatible servers (Groq, Together, vLLM gateways)::

      x-ratelimit-limit-requests: 5000        x-ratelimit-limit-tokens: 800000
      x-ratelimit-remaining-requests: 4999    x-ratelimit-remaining-tokens: 799980
      x-ratelimit-reset-requests: 12ms        x-ratelimit-reset-tokens: 6m0s

  Durations are Go-style (``1h2m3.5s``, ``250ms``) or plain seconds.
- Anthropic: ``anthropic-ratelimit-requests-limit|remaining|reset`` and ``anthropic-ratelimit-tokens-*``
  (falling back to ``anthropic-ratelimit-input-tokens-*``); resets are RFC 3339 timestamps.
- The IETF draft / generic form ``ratelimit-limit|remaining|reset`` and ``x-ratelimit-limit|remaining|reset``
  (requests; a reset above 10⁹ is read as a Unix time, else as seconds).

Limits are read as *per minute*, as OpenAI and Anthropic document them. (Groq's ``-requests`` limit is per
day: read as per minute it is merely a loose ceiling, and outcome-based control still applies.)
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from kagura.core.llm.providers._errors import retry_after_from_headers

__all__ = ["QuotaHeaders", "parse_duration", "parse_quota_headers", "retry_after_of"]

_DURATION = re.compile(
    r"(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m(?!s))?(?:(\d+(?:\.\d*)?)s)?(?:(\d+(?:\.\d*)?)ms)?"
)
_EPOCH_THRESHOLD = 1e9  # a "reset" larger than this many seconds is a Unix time, not a delay


@dataclass(frozen=True, slots=True)
class QuotaHeaders:
    """What a response said about the quota; every field is None when the server did not say it.

    ``limit_*`` are per-minute quotas, ``remaining_*`` what is left of them, ``reset_*`` seconds until
    the quota is fully (OpenAI) or next (others) replenished.
    """

    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens: float | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__slots__)


def parse_duration(value: str, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from ``"1m30.5s"``, ``"250ms"``, ``"2"``, an RFC 3339 / HTTP date, or a Unix time."""
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number != number or number in (float("inf"), float("-inf")):
            return None
        return max(0.0, number - now()) if number > _EPOCH_THRESHOLD else max(0.0, number)
    match = _DURATION.fullmatch(text)
    if match is not None and any(match.groups()):
        h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
        return h * 3600 + m * 60 + s + ms / 1000
    return _date_delay(text, now)


def _date_delay(text: str, now: Callable[[], float]) -> float | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        return None  # a local time would be a guess
    return max(0.0, when.timestamp() - now())


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number >= 0 and number != float("inf") else None


# (limit, remaining, reset) header names per dimension, most specific first.
_REQUEST_NAMES = (
    ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
     "anthropic-ratelimit-requests-reset"),
    ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"),
    ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),
)  # fmt: skip
_TOKEN_NAMES = (
    ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining",
     "anthropic-ratelimit-tokens-reset"),
    ("anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining",
     "anthropic-ratelimit-input-tokens-reset"),
)  # fmt: skip


def _dimension(
    headers: Mapping[str, str], names: tuple[tuple[str, str, str], ...], now: Callable[[], float]
) -> tuple[float | None, float | None, float | None]:
    for limit_name, remaining_name, reset_name in names:
        limit, remaining = _number(headers.get(limit_name)), _number(headers.get(remaining_name))
        reset_text = headers.get(reset_name)
        reset = parse_duration(reset_text, now) if reset_text else None
        if limit is not None or remaining is not None or reset is not None:
            return limit, remaining, reset
    return None, None, None


def _lower(headers: Mapping[str, str]) -> Mapping[str, str]:
    """Case-insensitive view: httpx/aiohttp headers already are; a plain dict is lowered once."""
    if isinstance(headers, dict):
        return {str(k).lower(): str(v) for k, v in headers.items()}
    return headers


def parse_quota_headers(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> QuotaHeaders:
    """The quota a response's ``headers`` announce (an all-None :class:`QuotaHeaders` when none)."""
    headers = _lower(headers)
    requests = _dimension(headers, _REQUEST_NAMES, now)
    tokens = _dimension(headers, _TOKEN_NAMES, now)
    return QuotaHeaders(*requests, *tokens)


def retry_after_of(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """How long a 429 asks to wait: ``retry-after-ms``, ``Retry-After``, else the quota reset headers.

    From the reset headers, the dimension that is exhausted (remaining 0) decides; when none says so,
    the earliest reset is used.
    """
    headers = _lower(headers)
    explicit = retry_after_from_headers(headers)
    if explicit is not None:
        return explicit
    quota = parse_quota_headers(headers, now)
    pairs = [(quota.remaining_requests, quota.reset_requests), (quota.remaining_tokens, quota.reset_tokens)]
    exhausted = [reset for remaining, reset in pairs if reset is not None and remaining == 0]
    if exhausted:
        return max(exhausted)
    known = [reset for _, reset in pairs if reset is not None]
    return min(known) if known else None
