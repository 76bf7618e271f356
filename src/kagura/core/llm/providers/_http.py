"""kagura's lean HTTP/1.1 path to an OpenAI-compatible server: JSON POSTs over a keep-alive pool.

The ``openai`` SDK spends most of a call's client CPU in its own layers and httpx's; for the
non-streaming calls (chat completions, embeddings, any :meth:`post_json`) this path sends the same request
straight over :class:`~._http_pool.HttpPool`. It is used unless

- ``KAGURA_HTTP=sdk`` is set (the switch back to the SDK for every call; ``KAGURA_HTTP=lean`` or unset:
  this path), or
- a proxy applies to the host (``HTTP(S)_PROXY`` / ``ALL_PROXY``, minus ``NO_PROXY``), or the base URL
  carries credentials or a query: the SDK handles those.

Streaming always goes through the SDK. Transport failures become ``kagura.errors`` here with the messages
the SDK path gives (:class:`KaguraTimeoutError`, :class:`ProviderConnectionError` naming the URL without
credentials or query); statuses and bodies are read by the provider.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from kagura.core.llm.providers._http_pool import ConnectionLost, HttpPool, Origin
from kagura.core.llm.providers._http_wire import HttpAnswer
from kagura.errors import ConfigurationError, KaguraError, KaguraTimeoutError, ProviderConnectionError

__all__ = ["LeanEndpoint", "lean_base_url"]

SWITCH = "KAGURA_HTTP"
_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_USER_AGENT = f"kagura (Python {sys.version_info.major}.{sys.version_info.minor})"
_BAD_PATH_CHARS = frozenset(" \r\n\t#")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 20  # as httpx


def lean_base_url(base_url: str | None) -> str | None:
    """The base URL the lean path would serve (``OPENAI_BASE_URL`` or OpenAI's when none is given, as the
    SDK), or None when the SDK must carry the calls (the switch, a proxy, credentials or a query)."""
    switch = os.environ.get(SWITCH, "").strip().lower()
    if switch not in ("", "lean", "sdk"):
        raise ConfigurationError(f"{SWITCH} must be 'lean' (the default) or 'sdk', not {switch[:40]!r}")
    if switch == "sdk":
        return None
    url = base_url or os.environ.get("OPENAI_BASE_URL") or _DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.query or parts.fragment:
        return None
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None
    return None if _proxied(parts.scheme, parts.hostname) else url


def _proxied(scheme: str, host: str) -> bool:
    proxies = urllib.request.getproxies()  # the *_PROXY environment variables
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)  # NO_PROXY


def _origin_of(scheme: str, host: str, port: int | None) -> tuple[Origin, str]:
    """(origin, Host header) of a URL's parts."""
    shown = f"[{host}]" if ":" in host else host
    default = _DEFAULT_PORTS[scheme]
    return (scheme, host, port or default), shown + (f":{port}" if port and port != default else "")


def _head(host: str, authorization: bytes) -> bytes:
    lines = [f"Host: {host}", "Accept: application/json", "Accept-Encoding: gzip, deflate",
             "Content-Type: application/json", f"User-Agent: {_USER_AGENT}"]  # fmt: skip
    for header, variable in (
        ("OpenAI-Organization", "OPENAI_ORG_ID"),
        ("OpenAI-Project", "OPENAI_PROJECT_ID"),
    ):
        value = os.environ.get(variable, "").strip()
        if value and (not value.isascii() or not value.isprintable()):
            raise ConfigurationError(
                f"{variable} must be printable ASCII (it is sent as the {header} header)"
            )
        if value:
            lines.append(f"{header}: {value}")  # as the SDK sends them
    return "".join(line + "\r\n" for line in lines).encode("latin-1") + authorization


def _request(method: str, path: str, head: bytes, payload: bytes | None) -> bytes:
    if _BAD_PATH_CHARS.intersection(path) or not path.isascii():  # as httpx: drop a fragment, encode
        path = quote(path.split("#", 1)[0], safe=_PATH_SAFE)
    if payload is None:
        return b"%s %s HTTP/1.1\r\n%s\r\n" % (method.encode(), path.encode(), head)
    return b"".join((f"{method} {path} HTTP/1.1\r\n".encode(), head,
                     b"Content-Length: %d\r\n\r\n" % len(payload), payload))  # fmt: skip


class LeanEndpoint:
    """POSTs JSON to one base URL with one API key, over the provider's pool for the running loop.

    Redirects are followed as the SDK's httpx follows them (at most 20; 301/302/303 turn the POST into a
    GET; the key is not sent to another host). The key is kept only in a pre-built header (never in a repr
    or a message)."""

    __slots__ = ("_authorization", "_base_path", "_head", "_origin", "_pool", "_where")

    def __init__(self, pool: HttpPool, base_url: str, api_key: str) -> None:
        parts = urlsplit(base_url)
        self._pool = pool
        self._origin, host = _origin_of(parts.scheme, parts.hostname or "", parts.port)
        self._base_path = parts.path.rstrip("/") + "/"
        self._where = f"{parts.scheme}://{host}"
        self._authorization = f"Authorization: Bearer {api_key}\r\n".encode("latin-1")
        self._head = _head(host, self._authorization)

    def __repr__(self) -> str:
        return f"LeanEndpoint({self._where}{self._base_path})"

    def url(self, path: str) -> str:
        """scheme://host[:port]/path of ``path`` under the base URL (no credentials, no query)."""
        return self._where + self._path(path).split("?", 1)[0]

    def _path(self, path: str) -> str:
        return self._base_path + path.lstrip("/")

    async def post(self, path: str, body: Any, time_limit: float | None) -> HttpAnswer:
        """POST ``body`` as JSON to ``path`` (relative to the base URL); the whole answer, any status."""
        full = self._path(path)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        data = _request("POST", full, self._head, payload)
        answer = await self._send(self._origin, self._where + full, data, time_limit)
        if answer.status in _REDIRECTS:
            return await self._follow(answer, self._where + full, payload, time_limit)
        return answer

    async def _follow(
        self, answer: HttpAnswer, url: str, payload: bytes | None, time_limit: float | None
    ) -> HttpAnswer:
        method = "POST"
        for _ in range(_MAX_REDIRECTS):
            location = answer.headers.get("location")
            target = urlsplit(urljoin(url, location)) if location else None
            if target is None or target.scheme not in _DEFAULT_PORTS or not target.hostname:
                return answer  # nowhere to go: the redirect is the answer
            if answer.status in (301, 302, 303):
                method, payload = "GET", None
            before = urlsplit(url)
            origin, host = _origin_of(target.scheme, target.hostname, target.port)
            same_host = target.hostname == before.hostname and (
                (target.scheme, target.port) == (before.scheme, before.port)
                or (before.scheme, target.scheme, before.port, target.port) == ("http", "https", None, None)
            )
            head = _head(host, self._authorization if same_host else b"")
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
            url = f"{target.scheme}://{host}{path}"
            answer = await self._send(origin, url, _request(method, path, head, payload), time_limit)
            if answer.status not in _REDIRECTS:
                return answer
        error = ProviderConnectionError(
            f"could not reach the LLM server at {_shown(url)}: Exceeded maximum allowed redirects."
        )
        raise error

    async def _send(self, origin: Origin, url: str, data: bytes, time_limit: float | None) -> HttpAnswer:
        error: KaguraError
        try:
            return await self._pool.request(origin, data, time_limit)
        except TimeoutError:
            error = KaguraTimeoutError("the LLM request timed out: Request timed out.")
        except (ConnectionLost, OSError):
            error = ProviderConnectionError(
                f"could not reach the LLM server at {_shown(url)}: Connection error."
            )
        raise error  # outside the except block: no chain back to the socket's exception


def _shown(url: str) -> str:
    """A URL as error messages show it: never a query (it may carry a secret)."""
    return url.split("?", 1)[0]
