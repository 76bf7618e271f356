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
from urllib.parse import quote, urlsplit

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


class LeanEndpoint:
    """POSTs JSON to one base URL with one API key, over the provider's pool for the running loop.

    The key is kept only inside the pre-built request head (never in a repr or a message)."""

    __slots__ = ("_base_path", "_head", "_origin", "_pool", "_where")

    def __init__(self, pool: HttpPool, base_url: str, api_key: str) -> None:
        parts = urlsplit(base_url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS[scheme]
        self._pool = pool
        self._origin: Origin = (scheme, host, port)
        self._base_path = parts.path.rstrip("/") + "/"
        shown_host = f"[{host}]" if ":" in host else host
        explicit = f":{parts.port}" if parts.port and parts.port != _DEFAULT_PORTS[scheme] else ""
        self._where = f"{scheme}://{shown_host}{explicit}"
        lines = [
            f"Host: {shown_host}{explicit}",
            f"Authorization: Bearer {api_key}",
            "Accept: application/json",
            "Accept-Encoding: gzip, deflate",
            "Content-Type: application/json",
            f"User-Agent: {_USER_AGENT}",
        ]
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
        self._head = ("".join(line + "\r\n" for line in lines)).encode("latin-1")

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
        if _BAD_PATH_CHARS.intersection(full) or not full.isascii():  # as httpx: drop a fragment, encode
            full = quote(full.split("#", 1)[0], safe=_PATH_SAFE)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        data = b"".join(
            (
                f"POST {full} HTTP/1.1\r\n".encode(),
                self._head,
                b"Content-Length: %d\r\n\r\n" % len(payload),
                payload,
            )
        )
        error: KaguraError
        try:
            return await self._pool.request(self._origin, data, time_limit)
        except TimeoutError:
            error = KaguraTimeoutError("the LLM request timed out: Request timed out.")
        except (ConnectionLost, OSError):
            where = self._where + full.split("?", 1)[0]  # never a query (it may carry a secret)
            error = ProviderConnectionError(f"could not reach the LLM server at {where}: Connection error.")
        raise error  # outside the except block: no chain back to the socket's exception
