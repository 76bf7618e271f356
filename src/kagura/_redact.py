"""The one place secrets are masked before anything is printed, logged or stored as a name.

Every layer imports from here (this module imports nothing from kagura), so a URL or a message is masked
the same way whether it comes from a store, a shared budget, an LLM provider or the command line:

- :func:`redact_url` masks every credential form a URL can carry: the password of ``user:password@``
  (``redis://:pass@host`` too), and the value of each secret-named query or fragment parameter
  (``?password=``, ``sslpassword=``, ``key=``, ``api_key=``, ``token=``, ``access_token=``, ...).
- :func:`credential_free_url` drops those credentials altogether (for a *name* derived from a URL, such
  as the Redis key of a shared LLM budget, which must not change when only a password is masked).
- :func:`redact_text` masks a free-form message: every URL in it (as above), libpq ``key=value``
  connection strings (``host=db password=s3cret``), and each known secret in every form a server may echo
  it (plain, URL-encoded, JSON- or repr-escaped; for long keys their first 8 characters too).

Known secrets shorter than :data:`MIN_SECRET_LENGTH` are never masked (a one-letter "key" would turn
``check`` into ``chec***``), and secrets shorter than :data:`LONG_SECRET_LENGTH` are masked only as whole
tokens, never inside a longer word.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable

__all__ = [
    "LONG_SECRET_LENGTH",
    "MASK",
    "MIN_SECRET_LENGTH",
    "credential_free_url",
    "is_secret_name",
    "redact_text",
    "redact_url",
    "url_secrets",
]

MASK = "***"
#: Known secrets shorter than this are not masked: they cannot be told apart from ordinary text.
MIN_SECRET_LENGTH = 4
#: Secrets at least this long are masked wherever they occur; shorter ones only as whole tokens.
LONG_SECRET_LENGTH = 12

_SECRET_NAMES = frozenset(
    {"password", "passwd", "pwd", "pass", "sslpassword", "key", "apikey", "api_key", "token", "auth",
     "secret", "sig", "signature", "credential", "credentials", "authorization"}
)  # fmt: skip
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "_key", "apikey", "credential", "signature")

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_TRAILING = ".,;:!?)]}"
# name=value in a query string, a fragment or a libpq connection string: value quoted or up to a separator
_PARAM = re.compile(
    r"(?P<name>[A-Za-z][\w.\-]*)(?P<eq>=|\s+=\s+)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&;,'\"<>)]+)"
)
_WORD = "A-Za-z0-9"


def is_secret_name(name: str) -> bool:
    """Whether a parameter called ``name`` holds a secret (``password``, ``sslpassword``, ``api_key``...)."""
    plain = urllib.parse.unquote(name).strip().lower().replace("-", "_")
    return plain in _SECRET_NAMES or plain.endswith(_SECRET_SUFFIXES)


def _mask_params(text: str, found: list[str] | None = None) -> str:
    """``text`` with the value of every secret-named ``name=value`` replaced by ``***``."""

    def mask(match: re.Match[str]) -> str:
        value = match.group("value")
        if not is_secret_name(match.group("name")) or value.startswith((MASK, "...")):
            return match.group(0)
        if found is not None:
            found.append(_unquote_value(value))
        return f"{match.group('name')}{match.group('eq')}{MASK}"

    return _PARAM.sub(mask, text)


def _unquote_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return urllib.parse.unquote_plus(value)


def _split_netloc(url: str) -> tuple[str, str, str] | None:
    """(before the netloc, netloc, the rest) of an absolute URL, or None when it has no ``//`` netloc.

    The netloc's user info runs to the last ``@`` before the first ``/``, so a password holding an
    unencoded ``?`` or ``#`` (which a URL parser would cut there, leaving its start in the "host") is
    still masked whole.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    slash = rest.find("/")
    host_from = (rest if slash == -1 else rest[:slash]).rfind("@") + 1  # 0 without user info
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop, host_from)
        if at != -1:
            end = min(end, at)
    return scheme + sep, rest[:end], rest[end:]


def _rewrite(url: str, *, drop: bool, found: list[str] | None = None) -> str:
    parts = _split_netloc(url)
    if parts is None:
        return _mask_params(url, found)  # not a URL (a libpq key=value string): masked, never kept
    head, netloc, rest = parts
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if found is not None and colon and password:
            found.append(urllib.parse.unquote(password))
        if drop:
            netloc = hostport
        elif colon:
            netloc = f"{user}:{MASK}@{hostport}"
    if drop:
        return head + netloc + _drop_params(rest)
    return head + netloc + _mask_params(rest, found)


def _drop_params(rest: str) -> str:
    """``rest`` (path, query, fragment) without its secret-named parameters."""
    path, qmark, query = rest.partition("?")
    query, _, fragment = query.partition("#")
    if not qmark:
        path, _, fragment = path.partition("#")

    def keep(part: str) -> str:
        kept = [p for p in re.split(r"[&;]", part) if p and not is_secret_name(p.partition("=")[0])]
        return "&".join(kept)

    query, fragment = keep(query), keep(fragment)
    return path + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


def redact_url(url: str) -> str:
    """``url`` with every credential masked: the ``user:password@`` password and the values of secret-named
    query and fragment parameters become ``***``; user, host, port, path and other options are kept.

    Never raises: a string that does not parse as a URL is masked as free text (see :func:`redact_text`).
    """
    if not isinstance(url, str):
        return url
    return _rewrite(url, drop=False)


def credential_free_url(url: str) -> str:
    """``url`` with its credentials removed (not masked): no ``user:password@``, no secret parameters.

    Use it for names derived from a URL (a shared budget's Redis key), which then never carry a secret.
    A string that is not a URL has its secret ``key=value`` values masked instead.
    """
    return _rewrite(url, drop=True)


def url_secrets(url: str) -> list[str]:
    """The secret values ``url`` carries (its password, secret parameters), to mask where a driver echoes
    them on their own; for a libpq ``key=value`` string, the values of its secret keys."""
    found: list[str] = []
    if isinstance(url, str):
        _rewrite(url, drop=False, found=found)
    return [s for s in found if s]


def _echoed_forms(secret: str) -> list[str]:
    """Every way a server or transport may write ``secret`` back: plain, URL-encoded, JSON/repr-escaped."""
    forms = {
        secret,
        secret.strip(),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
    }
    return sorted((f for f in forms if len(f) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _mask_secret(message: str, secret: str) -> str:
    forms = _echoed_forms(secret)
    for form in forms:
        if len(form) >= LONG_SECRET_LENGTH:
            message = message.replace(form, MASK)
        else:
            message = re.sub(rf"(?<![{_WORD}]){re.escape(form)}(?![{_WORD}])", MASK, message)
    for form in forms:  # then truncated echoes (``sk-abcde...wxyz``): a long key's first 8 characters,
        # unless they are a plain word (a password "postgres-2024-x" must not turn "postgresql" into "***ql")
        if len(form) >= LONG_SECRET_LENGTH and not form[:8].isalpha():
            message = re.sub(rf"(?<![{_WORD}]){re.escape(form[:8])}", MASK, message)
    return message


def _mask_urls(message: str) -> str:
    def mask(match: re.Match[str]) -> str:
        url = match.group(0)
        stripped = url.rstrip(_TRAILING)
        return redact_url(stripped) + url[len(stripped) :]

    return _URL.sub(mask, message)


def redact_text(message: str, *secrets: str | None, extra: Iterable[str] = ()) -> str:
    """``message`` with every URL's credentials, every secret ``key=value`` and each known secret masked.

    ``secrets`` (and ``extra``) are values known to be secret (API keys, passwords); ``None`` and empty
    ones are ignored, and so are those shorter than :data:`MIN_SECRET_LENGTH`.
    """
    known = {s.strip() for s in (*secrets, *extra) if s and s.strip()}
    for secret in sorted(known, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            message = _mask_secret(message, secret)
    return _mask_params(_mask_urls(message))
