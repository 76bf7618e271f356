"""A fake OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

It speaks just enough of the OpenAI HTTP API for the real ``openai`` client:

- ``POST /v1/chat/completions`` (plain JSON, or server-sent events when ``stream`` is true),
- ``POST /v1/embeddings`` (deterministic unit vectors derived from the text),
- ``GET /v1/models``,
- ``GET /_kagura/stats`` (the counters as JSON) and ``POST /_kagura/faults`` (switch faults at run time),
- ``POST /_kagura/reset`` (zero the counters).

Every request waits ``latency`` seconds (``asyncio.sleep``, so a virtual clock applies), then answers with
the responder's text. Faults (:class:`Faults`) turn every Nth request into a 429 with ``Retry-After``, a
500, a hang, or malformed JSON; :meth:`FakeLLMServer.fail_next` scripts the next few answers exactly.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

from aiohttp import web

from kagura.testing._fake_wire import (
    Faults,
    ScriptedFailure,
    ServerStats,
    count_tokens,
    default_answer,
    error_response,
    text_of,
)
from kagura.testing._vectors import fake_embedding

__all__ = ["FakeLLMServer"]

Responder = Callable[[list[dict[str, Any]]], "str | Awaitable[str]"]


class FakeLLMServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1 and a free port; use ``async with``.

    ``server.base_url`` is ``"http://127.0.0.1:PORT/v1"``: use it as
    ``LLMConfig(model="fake", base_url=server.base_url, api_key="test")``.
    ``responder(messages) -> str`` (sync or async) computes the answer; the default is :func:`default_answer`.
    ``received`` holds every JSON body received, in arrival order.
    """

    def __init__(
        self,
        latency: float = 0.0,
        responder: Responder | None = None,
        *,
        faults: Faults | None = None,
        embedding_dim: int = 64,
        port: int = 0,
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0 seconds")
        self.latency = latency
        self.responder: Responder = responder or default_answer
        self.faults = faults or Faults()
        self.embedding_dim = embedding_dim
        self.stats = ServerStats()
        self.received: list[dict[str, Any]] = []
        self._port = port
        self._script: deque[ScriptedFailure] = deque()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Event]] = []
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``; only valid once started."""
        if self.port is None:
            raise RuntimeError("FakeLLMServer is not started: use `async with FakeLLMServer() as server:`")
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeLLMServer:
        """Bind 127.0.0.1 on a free port (or the given one) and start serving."""
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_kagura/stats", self._get_stats)
        app.router.add_post("/_kagura/faults", self._set_faults)
        app.router.add_post("/_kagura/reset", self._reset)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self.port = sock.getsockname()[1]
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def close(self) -> None:
        """Stop serving; hanging requests are released first."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLMServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- control ---------------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        """Zero the counters and forget the received bodies (requests in flight stay counted)."""
        in_flight = self.stats.in_flight
        self.stats = ServerStats(in_flight=in_flight, max_in_flight=in_flight)
        self.received.clear()

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> None:
        """Replace the faults, or change some fields: ``server.set_faults(rate_limit_every=3)``."""
        self.faults = replace(faults or self.faults, **changes) if changes else (faults or Faults())

    def fail_next(
        self, status: int, count: int = 1, *, retry_after: float | None = None, body: str | None = None
    ) -> None:
        """Answer the next ``count`` requests with HTTP ``status`` (and ``Retry-After`` when given)."""
        if not 400 <= status <= 599:
            raise ValueError("fail_next status must be an HTTP error status (400-599)")
        for _ in range(count):
            self._script.append(ScriptedFailure(status, retry_after, body))

    async def wait_for_requests(self, count: int) -> None:
        """Return once ``stats.requests`` has reached ``count`` (requests are counted on arrival)."""
        if self.stats.requests >= count:
            return
        event = asyncio.Event()
        self._waiters.append((count, event))
        await event.wait()

    def hang_next(self, count: int = 1) -> None:
        """Never answer the next ``count`` requests (until the server closes): the client must time out."""
        for _ in range(count):
            self._script.append(ScriptedFailure(None, None, None))

    # -- handlers --------------------------------------------------------------------------------------
    def _hits(self, every: int | None) -> bool:
        return every is not None and self.stats.requests % every == 0

    async def _fault(self) -> web.StreamResponse | None:
        """The injected failure for the current request, or None to answer normally."""
        if self._script:
            failure = self._script.popleft()
            self.stats.faults_injected += 1
            if failure.status is None:
                await self._closing.wait()
                return error_response(503, None, None)
            return error_response(failure.status, failure.retry_after, failure.body)
        f = self.faults
        if self._hits(f.hang_every):
            self.stats.faults_injected += 1
            await self._closing.wait()
            return error_response(503, None, None)
        if self._hits(f.rate_limit_every):
            self.stats.faults_injected += 1
            return error_response(429, f.retry_after, None)
        if self._hits(f.server_error_every):
            self.stats.faults_injected += 1
            return error_response(500, None, None)
        if self._hits(f.malformed_every):
            self.stats.faults_injected += 1
            return web.Response(text='{"choices": [ this is not json', content_type="application/json")
        return None

    async def _enter(self, request: web.Request) -> dict[str, Any]:
        s = self.stats
        s.requests += 1
        s.in_flight += 1
        s.max_in_flight = max(s.max_in_flight, s.in_flight)
        s.request_times.append(asyncio.get_running_loop().time())
        for waiter in [w for w in self._waiters if w[0] <= s.requests]:
            self._waiters.remove(waiter)
            waiter[1].set()
        try:
            body = await request.json()
        except ValueError:
            body = {}
        self.received.append(body)
        return body

    async def _admit(self, request: web.Request) -> tuple[dict[str, Any], web.StreamResponse | None]:
        """Count the request in, wait the configured latency; return its body and its injected fault.

        The caller must decrement ``stats.in_flight`` when done (in a ``finally``), even on cancellation.
        """
        body = await self._enter(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        return body, await self._fault()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.stats.chat_requests += 1
        try:
            body, fault = await self._admit(request)
            if fault is not None:
                return fault
            messages = body.get("messages")
            if not isinstance(messages, list):
                return error_response(400, None, "'messages' must be a list")
            answer = self.responder(messages)
            if inspect.isawaitable(answer):
                answer = await answer
            prompt_tokens = sum(count_tokens(text_of(m.get("content"))) for m in messages)
            completion_tokens = count_tokens(answer)
            self.stats.prompt_tokens += prompt_tokens
            self.stats.completion_tokens += completion_tokens
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            model = str(body.get("model", "fake"))
            if body.get("stream"):
                return await self._stream(request, model, answer, usage, body)
            return web.json_response(
                {
                    "id": f"chatcmpl-fake-{self.stats.requests}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        finally:
            self.stats.in_flight -= 1

    async def _stream(
        self, request: web.Request, model: str, answer: str, usage: dict[str, int], body: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = answer.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        base = {"id": "chatcmpl-fake-stream", "object": "chat.completion.chunk", "created": 0, "model": model}
        for piece in pieces:
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        end = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(end)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            await response.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        self.stats.embedding_requests += 1
        try:
            body, fault = await self._admit(request)
            if fault is not None:
                return fault
            raw = body.get("input")
            texts = [raw] if isinstance(raw, str) else raw
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                return error_response(400, None, "'input' must be a string or a list of strings")
            dim = int(body.get("dimensions") or self.embedding_dim)
            tokens = sum(count_tokens(t) for t in texts)
            self.stats.prompt_tokens += tokens
            data = [
                {"object": "embedding", "index": i, "embedding": fake_embedding(t, dim)}
                for i, t in enumerate(texts)
            ]
            return web.json_response(
                {
                    "object": "list",
                    "data": data,
                    "model": str(body.get("model", "fake-embedding")),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )
        finally:
            self.stats.in_flight -= 1

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def _get_stats(self, request: web.Request) -> web.StreamResponse:
        data = asdict(self.stats)
        data.pop("request_times")
        data["faults"] = asdict(self.faults)
        return web.json_response(data)

    async def _set_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            self.set_faults(Faults(**await request.json()))
        except (TypeError, ValueError) as exc:
            return error_response(400, None, f"bad faults: {exc}")
        return web.json_response(asdict(self.faults))

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        self.reset_stats()
        return web.json_response({"ok": True})
