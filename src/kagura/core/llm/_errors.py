"""Helpers shared by the providers' error translation: Retry-After parsing and key redaction."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

__all__ = ["redact", "retry_after_from_headers"]


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
