"""The CLI's one boundary for user errors: one line on stderr, a non-zero exit, flags not Python names.

The library's messages speak to programmers (``LLMConfig(api_key=...)``, ``lower threshold=``); on the
command line the same advice must name the flag (``--api-key``, ``--threshold``). ``as_flags`` rewrites
the Python spellings of the parameters every command exposes, ``redact`` hides secrets the user passed,
and ``user_errors`` turns kagura's intentional errors into ``error: <message>`` and exit code 1.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import typer

__all__ = ["PARAMETER_FLAGS", "SECRET_ENV", "as_flags", "fail", "printable", "redact", "user_errors"]

#: Python parameter name -> what the user types instead (a flag, or an environment variable).
PARAMETER_FLAGS: dict[str, str] = {
    "api_key": "--api-key",
    "base_url": "--base-url",
    "fallback": "--fallback",
    "file_type": "--type",
    "max_concurrent": "--max-concurrent",
    "model": "--model",
    "threshold": "--threshold",
    "top_k": "--top-k",
}

#: Environment variables whose values are secrets: never printed, even inside an error message.
SECRET_ENV = ("KAGURA_LLM_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY")

#: Python-only advice with no command-line equivalent beyond what the message already says: dropped.
_DROPPED = (" or LLMConfig(gemini_api_key=...)",)

_NAMES = "|".join(sorted(PARAMETER_FLAGS, key=len, reverse=True))
# LLMConfig(api_key=...) / LLMConfig(api_key=) / LLMConfig.api_key / a bare api_key= (not inside a word)
_CALL = re.compile(rf"\b\w+\((?P<name>{_NAMES})=(?:\.\.\.)?\)")
_ATTRIBUTE = re.compile(rf"\bLLMConfig\.(?P<name>{_NAMES})\b")
_KEYWORD = re.compile(rf"(?<![\w.])(?P<name>{_NAMES})=(?:\.\.\.)?(?!\w)")
# a name with an underscore is a Python identifier even without "=": "unknown file_type 'x'"
_IDENTIFIER = re.compile(rf"(?<![\w.-])(?P<name>{'|'.join(n for n in PARAMETER_FLAGS if '_' in n)})(?![\w=])")


def as_flags(message: str) -> str:
    """``message`` with Python parameter spellings replaced by the CLI flag (or variable) for each."""

    def flag(match: re.Match[str]) -> str:
        return PARAMETER_FLAGS[match.group("name")]

    for phrase in _DROPPED:
        message = message.replace(phrase, "")
    for pattern in (_CALL, _ATTRIBUTE, _KEYWORD, _IDENTIFIER):
        message = pattern.sub(flag, message)
    return message


def redact(message: str, *secrets: str | None) -> str:
    """``message`` masked by :func:`kagura._redact.redact_text`: every URL's credentials, and every given
    secret and every key from the environment (see :data:`SECRET_ENV`) replaced by ``***``."""
    from kagura._redact import redact_text

    return redact_text(message, *secrets, extra=[v for name in SECRET_ENV if (v := os.environ.get(name))])


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (terminal escapes) and characters that are
    not valid Unicode (a lone surrogate from undecodable bytes) shown as ``\\x..`` escapes."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fail(message: str, *secrets: str | None, code: int = 1) -> typer.Exit:
    """Print ``error: <message>`` (flags, redacted, one line) to stderr; return the exit to raise."""
    line = printable(" ".join(redact(as_flags(message), *secrets).split()))
    typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors(*secrets: str | None, misuse: bool = False) -> Iterator[None]:
    """Turn kagura's intentional errors into one line and exit code 1.

    ``misuse=True`` also catches ``ValueError``/``TypeError``: use it only around calls whose arguments
    come straight from the command line (a library bug elsewhere must still show its traceback).
    """
    from kagura.errors import KaguraError

    caught: tuple[type[BaseException], ...] = (
        (KaguraError, ValueError, TypeError) if misuse else (KaguraError,)
    )
    try:
        yield
    except caught as exc:
        raise fail(str(exc), *secrets) from None
