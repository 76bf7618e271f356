"""``--deadline`` values: a number and a unit (``90s``, ``30m``, ``6h``, ``24h``, ``2d``) as seconds."""

from __future__ import annotations

import math
import re

__all__ = ["DEFAULT_DEADLINE", "parse_duration"]

DEFAULT_DEADLINE = 24 * 3600.0
"""The providers' completion window: a batch may take this long."""

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``30m``, ``6h``, ``24h``, ``45s``, ``1.5h``); ``ValueError`` saying the form."""
    if not isinstance(text, str):
        raise TypeError(f"a duration is a string such as '24h', got {type(text).__name__}")
    match = _FORM.match(text.lower())
    if match is None:
        raise ValueError(f"a duration is a number and a unit s, m, h or d (30m, 6h, 24h), got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be more than 0 seconds, got {text!r}")
    return seconds
