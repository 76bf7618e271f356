"""Content hashing for the incremental manifest."""

from __future__ import annotations

import hashlib
import os

from kagura.errors import ExtractionError

__all__ = ["content_hash"]

_CHUNK = 1 << 20


def content_hash(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB chunks (blocking).

    Raises :class:`kagura.errors.ExtractionError` when the file disappeared or cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise ExtractionError(os.fspath(path), "file disappeared since the scan (deleted or moved)") from None
    except IsADirectoryError:
        raise ExtractionError(os.fspath(path), "is a directory, not a file") from None
    except OSError as exc:
        raise ExtractionError(os.fspath(path), f"could not read the file: {exc.strerror or exc}") from None
    return digest.hexdigest()
