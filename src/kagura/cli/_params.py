"""Checks for command-line values, run while the arguments are parsed (a bad value: usage error, exit 2).

* ``finite``: a ``callback=`` for float options; ``inf`` and ``nan`` parse as floats but mean nothing as a
  latency, a rate or a threshold (and ``inf`` seconds is a hang).
* ``utf8_text``: a ``callback=`` for free text (a query, a question): undecodable bytes on the command line
  arrive as lone surrogates, which no tokenizer or HTTP request accepts.
* ``path_value``: a ``parser=`` for paths: ``""`` would otherwise become ``.`` (the current directory).
* ``output_file``: where a command will write a file: refused before any work when it cannot be a file.
* ``postgres_url_problem`` / ``ray_address_problem``: what is wrong with a URL the user typed, if anything.
"""

from __future__ import annotations

import math
import re
import stat
from pathlib import Path

import typer

__all__ = [
    "MAX_TOP_K",
    "finite",
    "output_file",
    "path_value",
    "postgres_url_problem",
    "ray_address_problem",
    "utf8_text",
]

#: The most results (or candidates) a command prints: more is a typo, not a request.
MAX_TOP_K = 1000


def finite(value: float | None) -> float | None:
    """``callback=`` for a float option: refuse ``inf`` and ``nan``."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def utf8_text(value: str | None) -> str | None:
    """``callback=`` for text: refuse bytes that are not UTF-8 (they arrive as lone surrogates)."""
    if value is None:
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise typer.BadParameter("is not valid UTF-8 text (undecodable bytes)") from None
    return value


def path_value(text: str | Path) -> Path:
    """``parser=`` for a path: an empty string is refused instead of meaning the current directory."""
    if isinstance(text, Path):  # the option's default
        return text
    if not text.strip():
        raise typer.BadParameter("is empty: name a file or folder (`.` is the current directory)")
    return Path(text).expanduser()


def output_file(path: Path, flag: str) -> typer.BadParameter | None:
    """Why ``path`` cannot be written as a regular file (a directory, FIFO, device, no parent), or None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            return typer.BadParameter(f"{path.parent} is not a directory", param_hint=flag)
        return None
    except OSError as exc:
        return typer.BadParameter(f"cannot use {path}: {exc.strerror or exc}", param_hint=flag)
    if stat.S_ISDIR(mode):
        return typer.BadParameter(f"{path} is a directory: name a file inside it", param_hint=flag)
    if not stat.S_ISREG(mode):
        return typer.BadParameter(f"{path} is not a regular file (a FIFO or a device)", param_hint=flag)
    return None


def postgres_url_problem(url: str) -> str | None:
    """What is wrong with the host part of a ``postgresql://`` URL (a port that is not 1-65535), or None."""
    from kagura.core.memory.stores import target_problem

    return target_problem(url)


_HOST_PORT = re.compile(r"^(?:ray://)?[A-Za-z0-9.\-\[\]:]+:(?P<port>\d{1,5})$")


def ray_address_problem(address: str) -> str | None:
    """What is wrong with ``--ray-address`` (``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT``)."""
    if address in ("auto", "local"):
        return None
    match = _HOST_PORT.match(address)
    if match is None or not 0 < int(match["port"]) < 65536:
        return f"{address!r} is not a Ray address: use auto, HOST:PORT or ray://HOST:PORT"
    return None
