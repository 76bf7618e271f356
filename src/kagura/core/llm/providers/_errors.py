"""Helpers shared by the providers' error translation: the HTTP status mapping, Retry-After, key checks.

Secrets at the boundary: a provider checks its key with :func:`check_api_key` before any request, hides
it in every server or transport message with :func:`kagura._redact.redact_text`, and raises the
translated error *outside* the ``except`` block that caught the SDK's exception, so neither
``__cause__`` nor ``__context__`` keeps that exception (whose request carries the ``Authorization`` header).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from kagura.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    KaguraError,
    KaguraTimeoutError,
    RateLimitedError,
    ServerError,
)

__all__ = ["check_api_key", "error_for_status", "retry_after_from_headers"]


def error_for_status(
    status: int, detail: str, *, service: str, key_hint: str, retry_after: float | None = None
) -> KaguraError:
    """The kagura error for an HTTP error ``status`` from ``service``: one mapping for every provider.

    429 -> :class:`RateLimitedError` (with ``retry_after``), 401/403 -> :class:`AuthenticationError`
    naming ``key_hint``, 408 -> :class:`KaguraTimeoutError`, 5xx -> :class:`ServerError`, any other
    status -> :class:`InvalidRequestError`. ``detail`` is the server's message, already redacted.
    """
    if status == 429:
        return RateLimitedError(
            f"{service} rate limited the request (HTTP 429): {detail}", retry_after=retry_after
        )
    if status in (401, 403):
        return AuthenticationError(
            f"{service} refused the API key (HTTP {status}): check {key_hint} and the model's access. "
            f"Server said: {detail}"
        )
    if status == 408:
        return KaguraTimeoutError(f"{service} timed out (HTTP 408): {detail}")
    if status >= 500:
        return ServerError(
            f"{service} server error (HTTP {status}): {detail}", status=status, retry_after=retry_after
        )
    return InvalidRequestError(
        f"{service} rejected the request (HTTP {status}): check the model name and parameters. "
        f"Server said: {detail}"
    )


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date); None if absent."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _malformed_char(key: str) -> tuple[int, str] | None:
    """(position, what) of the first character that cannot be in an API key, or None."""
    names = {"\n": "newline", "\r": "carriage-return", "\t": "tab", " ": "space"}
    for i, char in enumerate(key):
        if char in names:
            return i, names[char]
        if not char.isascii():
            return i, "non-ASCII"
        if not char.isprintable():
            return i, "control"
    return None


def check_api_key(key: str | None, where: str) -> None:
    """Raise :class:`ConfigurationError` when ``key`` cannot be a valid API key (never echoing it).

    Keys are printable ASCII without whitespace; a trailing newline (a key read from a file) or a stray
    non-ASCII character would otherwise surface as a confusing connection or JSON error, or be sent.
    ``where`` names the setting to fix, e.g. ``"KAGURA_LLM_API_KEY / LLMConfig(api_key=...)"``.
    """
    if key is None:
        return
    found = _malformed_char(key)
    if found is not None:
        position, what = found
        raise ConfigurationError(
            f"the API key is malformed: it has a {what} character at position {position + 1} of "
            f"{len(key)}; API keys are printable ASCII without spaces. Fix {where} "
            "(a key read from a file often keeps its trailing newline)."
        )
