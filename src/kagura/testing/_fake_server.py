"""A fake OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

It speaks just enough of the OpenAI HTTP API for the real ``openai`` client:

- ``POST /v1/chat/completions`` (plain JSON, or server-sent events when ``stream`` is true),
- ``POST /v1/embeddings`` (deterministic unit vectors derived from the text),
- ``GET /v1/models``,
- ``GET /_kagura/stats`` (the counters as JSON), ``POST /_kagura/faults`` (replace the faults),
  ``POST /_kagura/quota`` (change the quota), ``POST /_kagura/reset`` (zero the counters).

Each API request is numbered on arrival. Over its key's quota (:class:`~kagura.testing.Quota`) it is
answered 429 at once; otherwise it waits ``latency`` seconds (``asyncio.sleep``, so a virtual clock applies)
and gets the responder's text. Faults (:class:`Faults`) turn every Nth request (by arrival number, however
requests overlap) into a 429 with ``Retry-After``, a 500, a hang, or malformed JSON;
:meth:`FakeLLMServer.fail_next` scripts the next few arrivals exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import math
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from kagura._checks import check_seconds
from kagura.errors import UsageError
from kagura.testing._fake_anthropic import answer_messages, anthropic_error, anthropic_estimate
from kagura.testing._fake_batch_service import BatchSettings, FakeBatchService
from kagura.testing._fake_batches import batch_routes
from kagura.testing._fake_control import control_routes
from kagura.testing._fake_message_batches import message_batch_routes
from kagura.testing._fake_quota import Quota, QuotaEnforcer
from kagura.testing._fake_requests import (
    Call,
    api_key_of,
    chat_estimate,
    chat_usage,
    embedding_texts,
    embeddings_body,
    embeddings_estimate,
    prefix_tokens,
)
from kagura.testing._fake_schema import instance_of, invalid_json, json_schema_of
from kagura.testing._fake_wire import (
    Faults,
    ScriptedFailure,
    ServerStats,
    completion_body,
    default_answer,
    error_response,
    sse_events,
    trim,
)

__all__ = ["FakeLLMServer"]

Responder = Callable[[list[dict[str, Any]]], "str | Awaitable[str]"]


class FakeLLMServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1 and a free port; use ``async with``.

    ``server.base_url`` is ``"http://127.0.0.1:PORT/v1"``: use it as
    ``LLMConfig(model="fake", base_url=server.base_url, api_key="test")``.
    A request asking for a JSON Schema (``response_format`` json_schema) is answered a minimal instance
    of it; ``invalid_json_rate`` (a shortcut for ``Faults.invalid_json_rate``) breaks that share of them.
    ``responder(messages) -> str`` (sync or async) computes the answer; the default is :func:`default_answer`.
    ``received`` holds every JSON body received, in arrival order. ``history=N`` keeps only the latest N
    (to 2N, trimmed in bulk) of them, of ``stats.request_times`` and of ``stats.usage_log``, so a long load
    test stays small; the counters stay exact. Default: keep everything (``kagura fake-llm`` keeps 10,000).

    ``quota_rpm``/``quota_tpm``/``quota_burst`` enforce a provider-style quota per API key (see
    :class:`~kagura.testing.Quota`): over it, a request is answered 429 at once with ``Retry-After`` (whole
    seconds) and ``retry-after-ms``; every answer carries OpenAI's ``x-ratelimit-*`` headers unless
    ``quota_headers=False``. ``clock`` (seconds) drives the buckets; default: the event loop's clock.
    """

    def __init__(
        self,
        latency: float = 0.0,
        responder: Responder | None = None,
        *,
        faults: Faults | None = None,
        embedding_dim: int = 64,
        port: int = 0,
        quota_rpm: float | None = None,
        quota_tpm: float | None = None,
        quota_burst: float | None = None,
        quota_headers: bool = True,
        clock: Callable[[], float] | None = None,
        batches: BatchSettings | None = None,
        invalid_json_rate: float | None = None,
        history: int | None = None,
    ) -> None:
        check_seconds("latency", latency)
        self.latency = latency
        self.responder: Responder = responder or default_answer
        self.faults = faults or Faults()
        if invalid_json_rate is not None:
            self.faults = replace(self.faults, invalid_json_rate=invalid_json_rate)
        self.embedding_dim = embedding_dim
        self.stats = ServerStats(history=history)
        self.history = history
        self.received: list[dict[str, Any]] = []
        self._clock = clock
        self._quota = QuotaEnforcer(Quota(quota_rpm, quota_tpm, quota_burst, quota_headers), self._now)
        self._epoch = 0.0
        self._port = port
        self._script: deque[ScriptedFailure] = deque()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Event]] = []
        self._cached_prefixes: set[str] = set()
        self.port: int | None = None
        self.batches = FakeBatchService(batches or BatchSettings(), lambda: self.responder)

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def anthropic_base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the base URL for the Anthropic SDK (it adds ``/v1/messages``)."""
        return self.base_url.removesuffix("/v1")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``; only valid once started."""
        if self.port is None:
            raise UsageError("FakeLLMServer is not started: use `async with FakeLLMServer() as server:`")
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeLLMServer:
        """Bind 127.0.0.1 on a free port (or the given one) and start serving.

        ``OSError`` when the port is taken (``errno.EADDRINUSE``).
        """
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        app.router.add_routes(control_routes(self))
        app.router.add_routes(batch_routes(self.batches) + message_batch_routes(self.batches))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self._port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._closing = asyncio.Event()
        self._epoch = self._now()
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
    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    @property
    def quota(self) -> Quota:
        """The quota enforced now (``Quota()``: none)."""
        return self._quota.quota

    def set_quota(self, quota: Quota | None = None, **changes: Any) -> Quota:
        """Change the quota at run time: ``server.set_quota(rpm=300)`` (``None`` lifts a limit).

        Keyword names are :class:`Quota`'s fields (``rpm``, ``tpm``, ``burst``, ``headers``); unnamed
        fields keep their value. What each key has left is kept, cut down to the new bucket sizes.
        """
        new = replace(quota or self._quota.quota, **changes)
        self._quota.set_quota(new)
        return new

    def reset_stats(self) -> None:
        """Zero the counters, restart the per-second clock and forget the received bodies.

        Requests in flight stay counted in ``in_flight``; the quota's buckets are untouched.
        """
        in_flight = self.stats.in_flight
        self.stats = ServerStats(in_flight=in_flight, max_in_flight=in_flight, history=self.history)
        self.received.clear()
        try:
            self._epoch = self._now()
        except RuntimeError:  # no clock given and no running loop: start() sets the epoch
            pass

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> None:
        """Replace the faults, or change some fields: ``server.set_faults(rate_limit_every=3)``."""
        self.faults = replace(faults or self.faults, **changes) if changes else (faults or Faults())

    def fail_next(
        self, status: int, count: int = 1, *, retry_after: float | None = None, body: str | None = None
    ) -> None:
        """Answer the next ``count`` arriving requests with HTTP ``status`` (``Retry-After`` when given)."""
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
        """Never answer the next ``count`` arriving requests (until the server closes)."""
        for _ in range(count):
            self._script.append(ScriptedFailure(None))

    # -- admission -------------------------------------------------------------------------------------
    def _arrive(self) -> int:
        """Count a request in; its number (1-based, all API routes) is fixed now, on arrival."""
        number = self.stats.arrive(asyncio.get_running_loop().time())
        for waiter in [w for w in self._waiters if w[0] <= number]:
            self._waiters.remove(waiter)
            waiter[1].set()
        return number

    def _planned_fault(self, number: int) -> ScriptedFailure | None:
        """The failure request ``number`` gets: the script first, then the every-Nth faults."""
        return self._script.popleft() if self._script else self.faults.failure_for(number)

    def _error(
        self, dialect: str, call: Call, status: int, retry_after: float | None, message: str | None,
        *, retry_after_ms: bool = False, headers: dict[str, str] | None = None,
    ) -> web.Response:  # fmt: skip
        """An error response in the route's dialect (OpenAI's or Anthropic's JSON shape)."""
        if dialect != "anthropic":
            return error_response(
                status, retry_after, message, retry_after_ms=retry_after_ms, headers=headers
            )
        extra = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = str(math.ceil(retry_after - 1e-9))
        return anthropic_error(status, message, extra, call.number)

    async def _fail(self, failure: ScriptedFailure, call: Call, dialect: str) -> web.Response:
        if failure.status is None:
            await self._closing.wait()
            return self._error(dialect, call, 503, None, None)
        if failure.malformed:
            return web.Response(text='{"choices": [ this is not json', content_type="application/json")
        return self._error(dialect, call, failure.status, failure.retry_after, failure.body)

    async def _serve(
        self,
        request: web.Request,
        estimate: Callable[[dict[str, Any]], int],
        answer: Callable[[Call], Awaitable[web.StreamResponse]],
        dialect: str = "openai",
    ) -> web.StreamResponse:
        """Number the request, check its quota, plan its fault, wait the latency, then answer or fail."""
        number = self._arrive()
        try:
            try:
                body = await request.json()
            except ValueError:
                body = {}
            except ConnectionResetError:  # the client went away while sending (killed): nobody to answer
                return web.Response(status=499)
            if not isinstance(body, dict):
                body = {}
            self.received.append(body)
            trim(self.received, self.history)
            call = Call(number, body, api_key_of(request), dialect=dialect)
            admission = self._quota.admit(call.key, estimate(body))
            if not admission.admitted:
                self.stats.over_quota += 1
                return self._error(
                    dialect, call, 429, admission.retry_after, "over the fake server's quota",
                    retry_after_ms=True, headers=self._quota.headers(call.key, dialect),
                )  # fmt: skip
            call.charged = admission.tokens_charged
            call.second = math.floor(self._now() - self._epoch)
            self.stats.admit(call.second)
            failure = self._planned_fault(number)
            if failure is not None:
                self.stats.faults_injected += 1
            if self.latency:
                await asyncio.sleep(self.latency)
            if failure is not None:
                self._count_tokens(call, call.charged)
                response = await self._fail(failure, call, dialect)
                response.headers.update(self._quota.headers(call.key, dialect))
                return response
            return await answer(call)
        finally:
            self.stats.in_flight -= 1

    def _count_tokens(self, call: Call, actual: int) -> dict[str, str]:
        """Settle ``call``'s tokens with the real count; the quota headers to send with its answer."""
        self._quota.settle(call.key, call.charged, actual)
        self.stats.charge(call.second, actual)
        return self._quota.headers(call.key, call.dialect)

    # -- API routes ------------------------------------------------------------------------------------
    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.stats.chat_requests += 1
        return await self._serve(request, chat_estimate, lambda call: self._answer_chat(request, call))

    async def _answer_chat(self, request: web.Request, call: Call) -> web.StreamResponse:
        messages = call.body.get("messages")
        if not isinstance(messages, list):
            headers = self._count_tokens(call, call.charged)
            return error_response(400, None, "'messages' must be a list", headers=headers)
        answer = await self._answer(call, messages, json_schema_of(call.body))
        model = str(call.body.get("model", "fake"))
        usage = chat_usage(messages, answer, self._prompt_cache_read(messages))
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        self.stats.bill(
            call.number, "chat", model, usage["prompt_tokens"], usage["completion_tokens"], cached
        )
        headers = self._count_tokens(call, usage["total_tokens"])
        if not call.body.get("stream"):
            return web.json_response(completion_body(call.number, model, answer, usage), headers=headers)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
        await response.prepare(request)
        with_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))
        for event in sse_events(model, answer, usage if with_usage else None):
            await response.write(event)
        await response.write_eof()
        return response

    async def _answer(self, call: Call, messages: list[Any], schema: Mapping[str, Any] | None) -> str:
        """The answer's text: the responder's, or for a structured request (``schema``), a minimal
        instance of the schema (broken JSON for ``faults.invalid_json_rate`` of them)."""
        if schema is not None:
            self.stats.structured_answers += 1
            if self.faults.invalid_json_for(call.number):
                self.stats.invalid_answers += 1
                return invalid_json(json.dumps(instance_of(schema)))
            if self.responder is default_answer:
                return json.dumps(instance_of(schema))
        answer = self.responder(messages)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    def _prompt_cache_read(self, messages: list[Any]) -> int:
        """Automatic prompt caching as OpenAI does it: a prompt whose messages before the last were all
        sent before reads them from the cache (their tokens are reported as ``cached_tokens``)."""
        if len(messages) < 2:
            return 0
        digest = hashlib.sha256(json.dumps(messages[:-1], sort_keys=True, default=str).encode()).hexdigest()
        if digest in self._cached_prefixes:
            return prefix_tokens(messages)
        self._cached_prefixes.add(digest)
        return 0

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        self.stats.messages_requests += 1
        answer = lambda call: answer_messages(self, request, call)  # noqa: E731
        return await self._serve(request, anthropic_estimate, answer, dialect="anthropic")

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        self.stats.embedding_requests += 1
        return await self._serve(request, embeddings_estimate, self._answer_embeddings)

    async def _answer_embeddings(self, call: Call) -> web.StreamResponse:
        texts = embedding_texts(call.body)
        if texts is None:
            headers = self._count_tokens(call, call.charged)
            return error_response(400, None, "'input' must be a string or a list of strings", headers=headers)
        dim = int(call.body.get("dimensions") or self.embedding_dim)
        body = embeddings_body(texts, dim, str(call.body.get("model", "fake-embedding")))
        self.stats.bill(call.number, "embeddings", body["model"], body["usage"]["prompt_tokens"], 0)
        return web.json_response(body, headers=self._count_tokens(call, body["usage"]["prompt_tokens"]))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})
