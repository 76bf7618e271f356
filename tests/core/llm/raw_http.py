"""A scripted HTTP/1.1 server on 127.0.0.1 for the HTTP path's tests: each request is answered by a list of
actions (raw bytes to send, a pause, a graceful close, a reset, a hang), so every framing and failure a
real server can produce is reproducible byte for byte."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import socket
import ssl
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

CLOSE, RESET, HANG = "close", "reset", "hang"
Action = bytes | float | str  # bytes: send; float: pause (s); CLOSE / RESET / HANG


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int  # 1-based number of the connection it came on


@dataclass
class RawHttpServer:
    script: Callable[[Seen], Sequence[Action]]
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    client_closed: asyncio.Event = field(default_factory=asyncio.Event)
    _closes: asyncio.Condition = field(default_factory=asyncio.Condition)
    tls: ssl.SSLContext | None = None  # serve https (base_url names "localhost")
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"https://localhost:{port}/v1" if self.tls else f"http://127.0.0.1:{port}/v1"

    async def wait_client_closes(self, count: int) -> None:
        """Return once the client has closed ``count`` connections."""
        async with self._closes:
            await self._closes.wait_for(lambda: self.closed_by_client >= count)

    async def _client_closed(self) -> None:
        self.closed_by_client += 1
        self.client_closed.set()
        async with self._closes:
            self._closes.notify_all()

    async def __aenter__(self) -> RawHttpServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    await self._client_closed()
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                method, target = lines[0].split(" ")[:2]
                seen = Seen(method, target, headers, body, number)
                self.seen.append(seen)
                self.arrived.set()
                for action in self.script(seen):
                    if isinstance(action, bytes):
                        writer.write(action)
                        await writer.drain()
                    elif isinstance(action, float):
                        await asyncio.sleep(action)
                    elif action == HANG:  # answer nothing; note when the client gives up the connection
                        try:
                            await reader.read()
                        except ConnectionError:
                            pass
                        await self._client_closed()
                        return
                    elif action == RESET:
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        writer.transport.abort()
                        return
                    else:
                        writer.close()
                        return
        finally:
            self._writers.discard(writer)
            writer.close()


def response(
    body: bytes | Any = None,
    *,
    status: str = "200 OK",
    headers: Sequence[str] = ("Content-Type: application/json",),
    framing: str = "length",
    encoding: str | None = None,
    splits: Sequence[int] = (),
) -> list[Action]:
    """The actions that send one answer: ``framing`` "length", "chunked" (split at ``splits``) or "close"
    (the body ends with the connection); ``encoding`` "gzip" / "deflate" / "raw-deflate" compresses it."""
    data = (
        body if isinstance(body, bytes) else json.dumps(body if body is not None else completion()).encode()
    )
    extra = list(headers)
    if encoding == "gzip":
        data, extra = gzip.compress(data), [*extra, "Content-Encoding: gzip"]
    elif encoding == "deflate":
        data, extra = zlib.compress(data), [*extra, "Content-Encoding: deflate"]
    elif encoding == "raw-deflate":
        raw = zlib.compressobj(wbits=-15)
        data, extra = raw.compress(data) + raw.flush(), [*extra, "Content-Encoding: deflate"]
    if framing == "length":
        extra.append(f"Content-Length: {len(data)}")
        payload = data
    elif framing == "chunked":
        extra.append("Transfer-Encoding: chunked")
        cuts = sorted({0, len(data), *(s % (len(data) + 1) for s in splits)})
        parts = [data[a:b] for a, b in itertools.pairwise(cuts) if b > a]
        payload = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-Trailer: t\r\n\r\n"
    else:
        payload = data
    head = f"HTTP/1.1 {status}\r\n" + "".join(h + "\r\n" for h in extra) + "\r\n"
    actions: list[Action] = [head.encode("latin-1") + payload]
    if framing == "close":
        actions.append(CLOSE)
    return actions


def completion(text: str = "hello", prompt_tokens: int = 3, completion_tokens: int = 2) -> dict[str, Any]:
    return {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 5},
    }
