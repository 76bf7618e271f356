"""Opening files safely, and showing file names safely.

:func:`open_regular` is the one way the loaders open a file for reading: ``O_NONBLOCK`` so that opening a
FIFO (or a device) never waits, then ``fstat`` on the opened descriptor, so a special file swapped in after
the scan is refused at open time instead of hanging the read. Only regular files come back.

:func:`display_name` turns a path that is not valid UTF-8 (Python keeps such bytes as lone surrogates) into
a printable, storable string: each undecodable byte becomes ``\\xNN``; the raw bytes stay available with
:func:`raw_name_hex`. Valid UTF-8 names are returned unchanged.
"""

from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO

from kagura.errors import ExtractionError

__all__ = ["display_name", "is_valid_name", "open_regular", "raw_name_hex", "read_regular"]


_DISAPPEARED = "file disappeared since the scan (deleted or moved)"


def open_regular(path: str | os.PathLike[str], *, missing: str = _DISAPPEARED) -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything but a regular file without ever blocking.

    Raises :class:`ExtractionError` for a FIFO, socket, device or directory, and for a missing or
    unreadable file (with the reason; ``missing`` is the reason given for a file that does not exist).
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise ExtractionError(display_name(name), missing) from None
    except IsADirectoryError:
        raise ExtractionError(display_name(name), "is a directory, not a file") from None
    except PermissionError:
        raise ExtractionError(display_name(name), "permission denied") from None
    except OSError as exc:
        raise ExtractionError(display_name(name), f"could not open the file: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ExtractionError(display_name(name), "is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise ExtractionError(display_name(name), "not a regular file (FIFO, socket or device); not read")
        os.set_blocking(fd, True)
        fh = io.open(fd, "rb", closefd=True)  # noqa: UP020 - from a descriptor
    except BaseException:
        os.close(fd)
        raise
    fh.raw.name = name  # pyright: ignore[reportAttributeAccessIssue]  # parsers that look at the name (mutagen, zipfile) see the path, not the number
    return fh


def read_regular(
    path: str | os.PathLike[str], limit: int | None = None, *, missing: str = _DISAPPEARED
) -> bytes:
    """The bytes of a regular file (at most ``limit`` of them), opened with :func:`open_regular`."""
    with open_regular(path, missing=missing) as fh:
        return fh.read() if limit is None else fh.read(limit)


def is_valid_name(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` decodes from the file system as valid UTF-8 (no surrogate escapes)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_name(path: str | os.PathLike[str]) -> str:
    """``path`` as a string that can be printed and stored: undecodable bytes shown as ``\\xNN``."""
    name = os.fspath(path)
    if is_valid_name(name):
        return name
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def raw_name_hex(path: str | os.PathLike[str]) -> str:
    """The file system bytes of ``path`` in hex: with :func:`display_name` the name is kept losslessly."""
    return os.fsencode(os.fspath(path)).hex()
