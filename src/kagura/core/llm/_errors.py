"""Helpers shared by the providers' error translation: the HTTP status mapping, Retry-After, redaction."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from kagura.errors import (
    AuthenticationError,
    InvalidRequestError,
    KaguraError,
    KaguraTimeoutError,
    RateLimitedError,
    ServerError,
)

__all__ = ["error_for_status", "redact", "retry_after_from_headers"]


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


def redact(message: str, secret: str | None) -> str:
    """``message`` with every occurrence of ``secret`` (and of its long prefixes) replaced by ``***``."""
    if secret and len(secret) >= 4:
        message = message.replace(secret, "***")
        if len(secret) >= 12:
            message = message.replace(secret[:8], "***")
    return message
