"""Content hashing for the incremental manifest."""

from __future__ import annotations

import hashlib
import os

from kagura.errors import ExtractionError
from kagura.loaders._safe import display_name, open_regular

__all__ = ["content_hash"]

_CHUNK = 1 << 20


def content_hash(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB chunks (blocking).

    Raises :class:`kagura.errors.ExtractionError` when the file disappeared, cannot be read or is not a
    regular file (opened without blocking, checked on the descriptor).
    """
    digest = hashlib.sha256()
    with open_regular(path) as fh:  # a FIFO or device swapped in after the scan is refused, never waited on
        try:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        except OSError as exc:
            raise ExtractionError(
                display_name(path), f"could not read the file: {exc.strerror or exc}"
            ) from None
    return digest.hexdigest()
