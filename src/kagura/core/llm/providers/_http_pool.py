"""Keep-alive HTTP/1.1 connections per origin (scheme, host, port), for one event loop.

:meth:`HttpPool.request` sends a request's bytes on an idle connection (or a new one, at most
``max_connections`` open per origin: later callers wait for one to come back) and reads the answer, all
within the request's ``timeout``. A connection goes back to the pool only after its whole answer was read
and the server did not ask to close it; on any failure, a timeout or a cancellation (Ctrl-C) it is
closed, never reused half read. A pooled connection the server closed while it was idle (nothing of an
answer arrived) is retried once on a fresh connection, as mature clients do; once any byte of the answer
arrived, the request is never sent again.

Raises :class:`TimeoutError` (the deadline passed), :class:`ConnectionLost` or :class:`OSError` (refused,
unknown host, reset, TLS failure) and :class:`~kagura.errors.MalformedResponseError`; the caller
translates them.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections import deque

from kagura.core.llm.providers._http_conn import ConnectionLost, HttpConnection
from kagura.core.llm.providers._http_wire import HttpAnswer, read_response

__all__ = ["ConnectionLost", "HttpPool", "Origin", "ssl_context"]

Origin = tuple[str, str, int]  # (scheme, host, port)
MAX_CONNECTIONS = 1000  # per origin, as the openai SDK's pool
KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (servers often drop theirs after 5 s)


def ssl_context() -> ssl.SSLContext:
    """The system's trust store (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured by OpenSSL), plus
    certifi's roots when installed and neither is set (what the SDK's httpx trusts)."""
    context = ssl.create_default_context()
    if not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
        try:
            import certifi
        except ImportError:
            pass
        else:
            context.load_verify_locations(certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


class _Slot:
    """The connections of one origin: the idle ones (most recently used last) and a count of all open."""

    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        self.idle: list[HttpConnection] = []
        self.open = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class HttpPool:
    """The keep-alive connections of one event loop, per origin; :meth:`aclose` closes them all."""

    def __init__(
        self, *, max_connections: int = MAX_CONNECTIONS, keepalive_expiry: float = KEEPALIVE_EXPIRY
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._slots: dict[Origin, _Slot] = {}
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def connections(self) -> int:
        """Connections open now (idle or carrying a request), over every origin."""
        return sum(slot.open for slot in self._slots.values())

    async def request(self, origin: Origin, data: bytes, time_limit: float | None) -> HttpAnswer:
        """Send ``data`` (a whole request) to ``origin``; read the answer, all within ``time_limit`` s."""
        slot = self._slots.get(origin)
        if slot is None:
            slot = self._slots[origin] = _Slot()
        async with asyncio.timeout(time_limit):
            conn = await self._acquire(origin, slot, fresh=False)
            try:
                try:
                    await conn.send(data)
                    answer = await read_response(conn)
                except (ConnectionLost, ConnectionError):
                    if conn.uses == 1 or conn.received:
                        raise  # a new connection failed, or the answer had begun: never send again
                    self._drop(slot, conn)  # closed by the server while idle: once more, on a new one
                    conn = await self._acquire(origin, slot, fresh=True)
                    await conn.send(data)
                    answer = await read_response(conn)
            except BaseException:
                self._drop(slot, conn)
                raise
        self._release(slot, conn, answer.keep_alive)
        return answer

    async def _acquire(self, origin: Origin, slot: _Slot, *, fresh: bool) -> HttpConnection:
        loop = asyncio.get_running_loop()
        while True:
            if not fresh:
                now = loop.time()
                while slot.idle:
                    conn = slot.idle.pop()
                    if conn.usable and now - conn.idle_since < self._expiry:
                        conn.uses += 1
                        return conn
                    self._drop(slot, conn)
            if slot.open < self._max:
                slot.open += 1
                try:
                    conn = await self._connect(origin, loop)
                except BaseException:
                    slot.open -= 1
                    self._wake(slot)
                    raise
                conn.uses = 1
                return conn
            waiter: asyncio.Future[None] = loop.create_future()
            slot.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake(slot)  # woken and cancelled at once: pass the turn on
                raise
            finally:
                if waiter in slot.waiters:
                    slot.waiters.remove(waiter)

    async def _connect(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> HttpConnection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = await asyncio.to_thread(ssl_context)  # reads the trust store: off the loop
            context = self._ssl
        _, conn = await loop.create_connection(
            lambda: HttpConnection(loop), host, port, ssl=context, server_hostname=host if context else None
        )
        return conn

    def _release(self, slot: _Slot, conn: HttpConnection, keep_alive: bool) -> None:
        if keep_alive and not self._closed and conn.usable:
            conn.idle_since = asyncio.get_running_loop().time()
            slot.idle.append(conn)
            self._wake(slot)
        else:
            self._drop(slot, conn)

    def _drop(self, slot: _Slot, conn: HttpConnection) -> None:
        if conn.counted:
            conn.counted = False
            slot.open -= 1
            self._wake(slot)
        conn.close()

    @staticmethod
    def _wake(slot: _Slot) -> None:
        while slot.waiters:
            waiter = slot.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        """Close every idle connection; those carrying a request close when their answer is read."""
        self._closed = True
        for slot in self._slots.values():
            while slot.idle:
                self._drop(slot, slot.idle.pop())
