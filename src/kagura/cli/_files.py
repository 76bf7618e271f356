"""Reading a file the user named on the command line: bounded, never blocking, one clear line if not.

Every option that reads a user file goes through :func:`read_user_file` (or :func:`read_user_text`):

- only a regular file is read: a FIFO, socket, device (``/dev/zero``, ``/dev/stdin``) or directory is
  refused at once, without ever waiting on it (opened ``O_NONBLOCK``, checked with ``fstat`` on the opened
  descriptor, through :func:`kagura.loaders._safe.open_regular`);
- at most ``limit`` bytes are read: a larger file is refused instead of filling memory;
- any problem is ``error: <option>: cannot read <path>: <reason>`` on stderr and exit code 2 (bad arguments).
"""

from __future__ import annotations

import os

import typer

from kagura.cli._errors import fail

__all__ = ["DEFAULT_LIMIT", "read_user_file", "read_user_text"]

#: The largest user file a command reads whole unless it says otherwise (configuration, agents, prompts).
DEFAULT_LIMIT = 16 * 1024 * 1024


def read_user_file(path: str | os.PathLike[str], option: str, *, limit: int = DEFAULT_LIMIT) -> bytes:
    """The bytes of the regular file ``path`` given to ``option`` (``"--agents"``), at most ``limit``.

    Raises the :class:`typer.Exit` (code 2) to re-raise after printing one line, for a missing,
    unreadable, special or oversized file.
    """
    from kagura.errors import ExtractionError
    from kagura.loaders._safe import display_name, read_regular

    if not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative number of bytes, got {limit!r}")
    name = display_name(path)
    if not os.fspath(path):
        raise _refuse(option, "''", "no file name given")
    try:
        data = read_regular(path, limit + 1, missing="no such file")
    except ExtractionError as exc:
        raise _refuse(option, name, exc.reason) from None
    except OSError as exc:  # a read error after a successful open (EIO, a file on a vanished mount)
        raise _refuse(option, name, exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise _refuse(option, name, f"larger than {_size(limit)}; not read")
    return data


def read_user_text(path: str | os.PathLike[str], option: str, *, limit: int = DEFAULT_LIMIT) -> str:
    """:func:`read_user_file` decoded as UTF-8 (a file that is not UTF-8 text is refused the same way)."""
    data = read_user_file(path, option, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(option, os.fspath(path), f"not UTF-8 text (byte {exc.start})") from None


def _refuse(option: str, name: str, reason: str) -> typer.Exit:
    return fail(f"{option}: cannot read {name}: {reason}", code=2)


def _size(limit: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size:
            return f"{limit / size:g} {unit}"
    return f"{limit} bytes"
