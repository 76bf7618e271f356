"""The error an extractor raises when its optional library is missing."""

from __future__ import annotations

from kagura._extras import missing_extra
from kagura.errors import ConfigurationError

__all__ = ["missing_library"]


def missing_library(package: str) -> ConfigurationError:
    """The error for an extractor whose library (pip name ``package``) is not installed: names the extra."""
    return missing_extra(package, "extracting this file type")
