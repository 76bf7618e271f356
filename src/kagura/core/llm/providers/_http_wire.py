"""Reading one HTTP/1.1 response off a :class:`~._http_conn.HttpConnection`: the status line and headers
(interim 1xx answers skipped), the body framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or the
end of the connection, then decoded (``Content-Encoding: gzip`` / ``deflate``).

Anything that is not HTTP, or past the limits (:data:`MAX_HEAD` for the status line and headers,
:data:`MAX_BODY` for the body, before and after decoding), raises :class:`MalformedResponseError`.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, TypeVar, overload

from kagura.errors import MalformedResponseError

if TYPE_CHECKING:
    from kagura.core.llm.providers._http_conn import HttpConnection

__all__ = ["MAX_BODY", "MAX_HEAD", "Headers", "HttpAnswer", "read_response"]

MAX_HEAD = 100 * 1024  # status line + headers (as httpcore's limit on an incomplete event)
MAX_BODY = 256 * 1024 * 1024  # a large embeddings answer is tens of MB
_MAX_CHUNK_LINE = 4096
_NO_BODY = frozenset({204, 304})
_T = TypeVar("_T")


class Headers(dict[str, str]):
    """Response headers, looked up case-insensitively (names are kept lowercase); repeated headers are
    joined with ``", "`` as HTTP allows. A ``dict`` underneath, so copying it (``dict(headers)``) is cheap."""

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        try:
            return dict.__getitem__(self, name)
        except KeyError:
            return dict.__getitem__(self, name.lower())

    @overload
    def get(self, name: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, name: str, default: str, /) -> str: ...
    @overload
    def get(self, name: str, default: _T, /) -> str | _T: ...
    def get(self, name: str, default: object = None, /) -> object:
        found = dict.get(self, name)
        return found if found is not None else dict.get(self, name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())

    def __repr__(self) -> str:
        return f"Headers({dict.__repr__(self)})"


class HttpAnswer:
    """A response read whole: ``status``, ``headers``, the decoded ``body`` and whether the connection
    may carry another request (``keep_alive``)."""

    __slots__ = ("body", "headers", "keep_alive", "status")

    def __init__(self, status: int, headers: Headers, body: bytes, keep_alive: bool) -> None:
        self.status, self.headers, self.body, self.keep_alive = status, headers, body, keep_alive

    def __repr__(self) -> str:
        return f"HttpAnswer(status={self.status}, body={len(self.body)} bytes)"


def _parse_head(head: bytes) -> tuple[int, bool, Headers]:
    """(status, HTTP/1.1 or later, headers) of a status line and header block ending in CRLF CRLF."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    status_line = lines[0]
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if (
        not version.startswith("HTTP/1.")
        or len(code) != 3
        or not code.isdigit()
        or rest[3:4] not in ("", " ")
    ):
        raise MalformedResponseError(f"the LLM server did not answer in HTTP/1.x: {status_line[:100]!r}")
    items: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or " " in name:
            raise MalformedResponseError(f"the LLM server sent a malformed header line: {line[:100]!r}")
        name = name.lower()
        value = value.strip()
        previous = items.get(name)
        items[name] = value if previous is None else f"{previous}, {value}"
    return int(code), version != "HTTP/1.0", Headers(items)


async def read_response(conn: HttpConnection) -> HttpAnswer:
    """The next response on ``conn`` (after the request was sent), its body read and decoded."""
    while True:
        status, http11, headers = _parse_head(await conn.read_until(b"\r\n\r\n", MAX_HEAD, "headers"))
        if status >= 200 or status == 101:
            break  # 100 Continue, 103 Early Hints...: interim answers before the real one
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if http11 else "keep-alive" in connection
    if status in _NO_BODY or status < 200:  # 101: the connection now speaks another protocol
        return HttpAnswer(status, headers, b"", keep_alive and status != 101)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(conn)
    elif "content-length" in headers:
        body = await conn.read_exact(_content_length(headers["content-length"]))
    else:
        body = await conn.read_to_eof(MAX_BODY)
        keep_alive = False
    encoding = headers.get("content-encoding")
    if encoding:
        body = _decoded(body, encoding)
    return HttpAnswer(status, headers, body, keep_alive)


def _content_length(value: str) -> int:
    values = {part.strip() for part in value.split(",")}  # a repeated header: the values must agree
    if len(values) != 1 or not (length := values.pop()).isdigit():
        raise MalformedResponseError(f"the LLM server sent an invalid Content-Length: {value[:100]!r}")
    size = int(length)
    if size > MAX_BODY:
        raise MalformedResponseError(f"the LLM server sent a body over the limit of {MAX_BODY} bytes")
    return size


async def _read_chunked(conn: HttpConnection) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = await conn.read_until(b"\r\n", _MAX_CHUNK_LINE, "a chunk size line")
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            size = -1
        if size < 0 or not size_text:
            raise MalformedResponseError(f"the LLM server sent an invalid chunk size: {line[:100]!r}")
        if size == 0:
            break
        total += size
        if total > MAX_BODY:
            raise MalformedResponseError(f"the LLM server sent a body over the limit of {MAX_BODY} bytes")
        chunk = await conn.read_exact(size + 2)
        if chunk[-2:] != b"\r\n":
            raise MalformedResponseError("the LLM server sent a chunk without its closing CRLF")
        parts.append(chunk[:-2])
    while await conn.read_until(b"\r\n", MAX_HEAD, "trailers") != b"\r\n":
        pass  # trailer fields: not used
    return b"".join(parts)


def _decoded(body: bytes, encoding: str) -> bytes:
    """``body`` with its content codings undone, last applied first; unknown codings left as they are."""
    for coding in reversed([part.strip().lower() for part in encoding.split(",")]):
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, 31)
        elif coding == "deflate":
            try:
                body = _inflate(body, 15)  # zlib-wrapped, as the standard says
            except MalformedResponseError:
                body = _inflate(body, -15)  # raw deflate, as some servers send
    return body


def _inflate(data: bytes, wbits: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    problem = ""
    out = b""
    try:
        out = decompressor.decompress(data, MAX_BODY + 1)
        if len(out) > MAX_BODY or decompressor.unconsumed_tail:
            problem = f"a body over the limit of {MAX_BODY} bytes"
        else:
            out += decompressor.flush()
    except zlib.error as exc:
        problem = f"a body that does not decompress: {exc}"
    if problem:  # raised outside the except block: no chained zlib error
        raise MalformedResponseError(f"the LLM server sent {problem}")
    return out
