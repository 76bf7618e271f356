"""One HTTP/1.1 connection as an :class:`asyncio.Protocol`: bytes in a buffer, read by the wire parser.

The parser (:mod:`._http_wire`) awaits :meth:`HttpConnection.read_until`, :meth:`~HttpConnection.read_exact`
and :meth:`~HttpConnection.read_to_eof`; each raises :class:`ConnectionLost` when the peer closes or resets
the connection before the bytes arrive. ``received`` counts the bytes of the current response, so the
pool can tell a connection the server closed while it sat idle (nothing arrived: safe to send again on a
fresh connection) from one that failed mid-answer (never sent again).
"""

from __future__ import annotations

import asyncio

from kagura.errors import MalformedResponseError

__all__ = ["ConnectionLost", "HttpConnection"]

_HIGH_WATER = 1 << 20  # stop reading from the socket past 1 MiB buffered, until the parser catches up


class ConnectionLost(Exception):
    """The peer closed or reset the connection before the expected bytes arrived."""


class HttpConnection(asyncio.Protocol):
    """A client connection: ``send`` a request, then read its response through the ``read_*`` methods."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._paused = False
        self._lost = False
        self._error: Exception | None = None
        self._transport: asyncio.Transport | None = None
        self.received = 0  # bytes of the current answer so far
        self.idle_since = 0.0  # the loop's time when it last went back to the pool
        self.uses = 0  # requests sent on it (1: a new connection)
        self.counted = True  # still counted among its pool's open connections

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self.received += len(data)
        if len(self._buffer) > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._lost = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._error = exc
        self._wake()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = self._loop.create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the pool ---------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """Open, and nothing unread in the buffer (a server does not speak first on an idle connection)."""
        transport = self._transport
        return not self._lost and not self._buffer and transport is not None and not transport.is_closing()

    def close(self) -> None:
        """Drop the connection at once (never reused: an answer may be half read)."""
        self._lost = True
        if self._transport is not None:
            self._transport.abort()

    async def send(self, data: bytes) -> None:
        """Write a request; waits only when the socket's write buffer is full (a large body)."""
        if self._lost or self._transport is None or self._transport.is_closing():
            raise ConnectionLost("the connection is closed")
        self.received = 0
        self._transport.write(data)
        while self._drain is not None:
            await self._drain
            if self._lost:
                raise ConnectionLost("the connection closed while sending")

    async def _more(self) -> None:
        if self._lost:
            raise ConnectionLost("the server closed the connection")
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def read_until(self, separator: bytes, limit: int, what: str) -> bytes:
        """Bytes up to and including ``separator``; over ``limit`` bytes: MalformedResponseError."""
        start = 0
        while True:
            found = self._buffer.find(separator, start)
            if found >= 0:
                end = found + len(separator)
                if end > limit:
                    break
                data = bytes(self._buffer[:end])
                del self._buffer[:end]
                return data
            if len(self._buffer) > limit:
                break
            start = max(0, len(self._buffer) - len(separator) + 1)
            await self._more()
        raise MalformedResponseError(f"the LLM server sent {what} over the limit of {limit} bytes")

    async def read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._more()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_to_eof(self, limit: int) -> bytes:
        """Everything until the server closes (a body delimited by the end of the connection)."""
        while True:
            if len(self._buffer) > limit:
                raise MalformedResponseError(f"the LLM server sent a body over the limit of {limit} bytes")
            try:
                await self._more()
            except ConnectionLost:
                if self._error is not None:  # reset, not closed: the body may be cut short
                    raise
                data = bytes(self._buffer)
                self._buffer.clear()
                return data
