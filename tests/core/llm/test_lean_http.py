"""The lean HTTP path against the SDK path: the same requests through both (``KAGURA_HTTP=sdk`` switches to
the SDK) give the same results, error classes, messages, ``Retry-After`` and headers, against the fake
server and a scripted server that frames its answers every way HTTP/1.1 allows (raw sockets, 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from raw_http import CLOSE, HANG, RESET, RawHttpServer, Seen, completion, response

from kagura.core.llm import OpenAICompatibleProvider
from kagura.core.llm._types import LLMRequest, LLMResponse, RawResponse
from kagura.errors import KaguraError, MalformedResponseError, ProviderConnectionError
from kagura.testing import FakeLLMServer

Call = Callable[[OpenAICompatibleProvider, str], Awaitable[Any]]
KEY = "sk-lean-test-key-0123456789"


def _request(base_url: str, timeout: float = 10.0) -> LLMRequest:
    return LLMRequest(model="fake", prompt="hi", base_url=base_url, api_key=KEY, timeout=timeout)


async def _complete(provider: OpenAICompatibleProvider, base_url: str) -> Any:
    return await provider.complete(_request(base_url))


async def _post(provider: OpenAICompatibleProvider, base_url: str) -> Any:
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
    return await provider.post_json("/chat/completions", body, _request(base_url))


async def _embed(provider: OpenAICompatibleProvider, base_url: str) -> Any:
    return await provider.post_json("/embeddings", {"model": "e", "input": ["a", "b"]}, _request(base_url))


def _outcome(result: Any) -> Any:
    """What a caller can see of a result or an error (headers: the x-ratelimit and retry ones)."""

    def shown(headers: Any) -> dict[str, str]:
        return {
            k.lower(): v for k, v in dict(headers or {}).items() if k.lower().startswith(("x-rate", "retry"))
        }

    if isinstance(result, KaguraError):
        retry_after = getattr(result, "retry_after", None)
        return type(result).__name__, str(result), retry_after, shown(getattr(result, "headers", None))
    if isinstance(result, LLMResponse):
        return result.text, result.usage, result.finish_reason, shown(result.headers)
    assert isinstance(result, RawResponse), result
    body = re.sub(r'"created": \d+', "", re.sub(r"fake-\d+", "fake-N", json.dumps(result.body)))  # per call
    return (
        result.status_code,
        body,
        re.sub(r"fake-\d+", "fake-N", result.request_id),
        result.usage,
        shown(result.headers),
    )


async def _through(monkeypatch: pytest.MonkeyPatch, mode: str, call: Call, base_url: str) -> Any:
    monkeypatch.setenv("KAGURA_HTTP", mode)
    provider = OpenAICompatibleProvider()
    try:
        return _outcome(await call(provider, base_url))
    except KaguraError as exc:
        return _outcome(exc)
    finally:
        await provider.aclose()


async def _both(monkeypatch: pytest.MonkeyPatch, call: Call, base_url: str) -> tuple[Any, Any]:
    return await _through(monkeypatch, "lean", call, base_url), await _through(
        monkeypatch, "sdk", call, base_url
    )


# -- against the fake server --------------------------------------------------------------------------------
FAULTS: list[tuple[str, Callable[[FakeLLMServer], None]]] = [
    ("ok", lambda s: None),
    ("429 with Retry-After", lambda s: s.fail_next(429, retry_after=2.5)),
    ("500", lambda s: s.fail_next(500)),
    ("401 echoing the key", lambda s: s.fail_next(401, body=f'{{"error": {{"message": "bad key {KEY}"}}}}')),
    ("400", lambda s: s.fail_next(400)),
    ("400 not JSON", lambda s: s.fail_next(400, body="plain words")),
    ("malformed JSON", lambda s: s.set_faults(malformed_every=1)),
]


@pytest.mark.parametrize("call", [_complete, _post, _embed], ids=["complete", "post_json", "embeddings"])
@pytest.mark.parametrize("fault", [f for _, f in FAULTS], ids=[name for name, _ in FAULTS])
async def test_the_fake_server_answers_both_paths_alike(
    fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, call: Call, fault: Callable[..., None]
) -> None:
    outcomes = []
    for mode in ("lean", "sdk"):
        fake_llm_server.set_faults()
        fault(fake_llm_server)
        outcomes.append(await _through(monkeypatch, mode, call, fake_llm_server.base_url))
    assert outcomes[0] == outcomes[1]
    assert KEY not in repr(outcomes[0])


async def test_a_base_url_without_v1_gets_the_same_404_hint(
    fake_llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, sdk = await _both(monkeypatch, _complete, fake_llm_server.base_url.removesuffix("/v1"))
    assert lean == sdk and "try a base URL of" in lean[1]


async def test_a_refused_connection_names_the_url_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"  # bound, not listening: refused
        lean, sdk = await _both(monkeypatch, _complete, url)
    assert lean == sdk
    assert lean[0] == "ProviderConnectionError" and f"{url}/chat/completions" in lean[1]


# -- against a scripted server: every framing ---------------------------------------------------------------
FRAMINGS: dict[str, list[Any]] = {
    "content-length": response(),
    "chunked": response(framing="chunked", splits=(1, 7, 30)),
    "close-delimited": response(framing="close"),
    "gzip": response(encoding="gzip"),
    "gzip chunked": response(encoding="gzip", framing="chunked", splits=(5,)),
    "deflate": response(encoding="deflate"),
    "raw deflate": response(encoding="raw-deflate"),
    "100 Continue first": [b"HTTP/1.1 100 Continue\r\n\r\n", *response()],
    "Connection: close": response(headers=("Content-Type: application/json", "Connection: close")),
    "HTTP/1.0": [b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b'{"choices": []}', CLOSE],
    "text, not JSON": response(b"just text", headers=("Content-Type: text/plain",)),
    "JSON that is not": response(b"{not json"),
    "503 Retry-After": response(
        {"error": {"message": "busy"}}, status="503 Busy", headers=("Retry-After: 7",)
    ),
    "429 quota headers": response(
        {"error": {"message": "slow down"}},
        status="429 Too Many Requests",
        headers=("x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 1.5s"),
    ),
    "reset mid-body": [b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"choices"', 0.05, RESET],
    "closed mid-body": [b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"choices"', CLOSE],
}


@pytest.mark.parametrize("call", [_complete, _post], ids=["complete", "post_json"])
@pytest.mark.parametrize("name", list(FRAMINGS))
async def test_every_framing_reads_the_same_on_both_paths(
    monkeypatch: pytest.MonkeyPatch, call: Call, name: str
) -> None:
    async with RawHttpServer(lambda seen: FRAMINGS[name]) as server:
        lean, sdk = await _both(monkeypatch, call, server.base_url)
        first = server.seen[0]
    assert lean == sdk
    assert first.headers["user-agent"].startswith(
        "kagura"
    )  # the lean path carried it (the SDK: "AsyncOpenAI")
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["accept"] == "application/json"
    assert "gzip" in first.headers["accept-encoding"]
    assert first.target == "/v1/chat/completions"


async def test_a_slow_server_times_out_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow(provider: OpenAICompatibleProvider, base_url: str) -> Any:
        return await provider.complete(_request(base_url, timeout=0.2))

    async with RawHttpServer(lambda seen: [HANG]) as server:
        lean, sdk = await _both(monkeypatch, slow, server.base_url)
    assert lean == sdk and lean[0] == "KaguraTimeoutError"


MALFORMED = {
    "not HTTP": [b"SMTP ready\r\n\r\n", CLOSE],
    "a header line without a colon": [b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\n{}"],
    "a bad Content-Length": [b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n{}"],
    "a bad chunk size": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"],
    "headers past the limit": [b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n"],
    "gzip that is not": [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"],
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_a_malformed_answer_is_a_malformed_response_error(name: str) -> None:
    async with RawHttpServer(lambda seen: MALFORMED[name]) as server:
        provider = OpenAICompatibleProvider()
        with pytest.raises(MalformedResponseError, match="the LLM server") as info:
            await provider.complete(_request(server.base_url))
        await provider.aclose()
    assert KEY not in repr(info.value) and info.value.__context__ is None


def _one_answer_then(after: str) -> Callable[[Seen], list[Any]]:
    """Answers a connection's first request; its second one gets ``after``: a close or a partial answer."""
    per_connection: dict[int, int] = {}

    def script(seen: Seen) -> list[Any]:
        per_connection[seen.connection] = per_connection.get(seen.connection, 0) + 1
        if per_connection[seen.connection] == 1:
            return (
                [*response(completion("first")), CLOSE]
                if after == "closed idle"
                else response(completion("first"))
            )
        return [CLOSE] if after == "nothing" else [b"HTTP/1.1 200 OK\r\n", CLOSE]

    return script


@pytest.mark.parametrize("after", ["closed idle", "nothing", "part of an answer"])
async def test_a_pooled_connection_closed_by_the_server_is_resent_only_if_nothing_came_back(
    after: str,
) -> None:
    async with RawHttpServer(_one_answer_then(after)) as server:
        provider = OpenAICompatibleProvider()
        assert (await provider.complete(_request(server.base_url))).text == "first"
        if after == "closed idle":  # the server dropped the idle connection: the next call opens a new one
            assert (await provider.complete(_request(server.base_url))).text == "first"
            assert [s.connection for s in server.seen] == [1, 2]
        elif after == "nothing":  # closed as the request came: sent once more, on a new connection
            assert (await provider.complete(_request(server.base_url))).text == "first"
            assert [s.connection for s in server.seen] == [1, 1, 2]
        else:  # an answer had begun: never sent twice
            with pytest.raises(ProviderConnectionError, match="Connection error"):
                await provider.complete(_request(server.base_url))
            assert [s.connection for s in server.seen] == [1, 1]
        await provider.aclose()
        assert all(s.headers["user-agent"].startswith("kagura") for s in server.seen)


async def test_a_cancelled_call_closes_its_connection_and_the_next_call_opens_a_new_one() -> None:
    calls = iter([[HANG], response(completion("after"))])
    async with RawHttpServer(lambda seen: next(calls)) as server:
        provider = OpenAICompatibleProvider()
        task = asyncio.ensure_future(provider.complete(_request(server.base_url)))
        await server.arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.client_closed.wait(), 10)  # the half-read connection was closed
        assert (await provider.complete(_request(server.base_url))).text == "after"
        assert [s.connection for s in server.seen] == [1, 2]
        assert all(s.headers["user-agent"].startswith("kagura") for s in server.seen)
        await provider.aclose()


REDIRECTS = [
    "301 Moved Permanently",
    "302 Found",
    "303 See Other",
    "307 Temporary Redirect",
    "308 Permanent Redirect",
]


@pytest.mark.parametrize("host", ["same host", "another host"])
@pytest.mark.parametrize("status", REDIRECTS)
async def test_redirects_are_followed_as_the_sdk_follows_them(
    monkeypatch: pytest.MonkeyPatch, status: str, host: str
) -> None:
    def script(seen: Seen) -> list[Any]:
        if seen.target.endswith("/chat/completions"):
            port = seen.headers["host"].rsplit(":", 1)[1]
            where = "/v1/moved" if host == "same host" else f"http://localhost:{port}/v1/moved"
            return [f"HTTP/1.1 {status}\r\nLocation: {where}\r\nContent-Length: 0\r\n\r\n".encode()]
        return response(completion(f"{seen.method} {seen.target} {len(seen.body)}"))

    async with RawHttpServer(script) as server:
        lean, sdk = await _both(monkeypatch, _complete, server.base_url)
        followed = [s for s in server.seen if s.target == "/v1/moved"]
    assert lean == sdk
    assert followed[0].headers["user-agent"].startswith("kagura")
    for s in followed:  # the key goes only where it was meant to go
        assert ("authorization" in s.headers) == (host == "same host")
