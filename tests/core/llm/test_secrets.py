"""The API key never leaks through an error: not in messages, not anywhere in the exception chain.

Every error the LLM layer raises is walked whole (``__cause__``, ``__context__``, ``args``, attributes,
``repr``) looking for the key in each form a server or transport can echo it: plain, URL-encoded, as a
``Bearer`` header. Malformed keys are refused before any request.
"""

from __future__ import annotations

import math
import socket
import urllib.parse
from typing import Any

import pytest

from kagura._redact import redact_text as redact
from kagura.core.llm import LLMConfig, call_llm
from kagura.errors import ConfigurationError, KaguraError
from kagura.testing import FakeLLMServer

SECRET = "sk-proj-Very/Secret+Key=123456789"
FORMS = [
    SECRET,
    urllib.parse.quote(SECRET, safe=""),
    urllib.parse.quote_plus(SECRET),
    urllib.parse.quote(SECRET),
    f"Bearer {SECRET}",
]


def _texts_of(obj: Any, seen: set[int], depth: int = 0) -> list[str]:
    """Every string reachable from an exception: its repr/str/args, attributes, cause and context."""
    if id(obj) in seen or depth > 6:
        return []
    seen.add(id(obj))
    out = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        out += _texts_of(obj.__cause__, seen, depth + 1) + _texts_of(obj.__context__, seen, depth + 1)
        out += [t for a in obj.args for t in _texts_of(a, seen, depth + 1)]
    if isinstance(obj, dict):
        out += [
            t for k, v in obj.items() for t in _texts_of(k, seen, depth + 1) + _texts_of(v, seen, depth + 1)
        ]
    elif isinstance(obj, list | tuple | set):
        out += [t for v in obj for t in _texts_of(v, seen, depth + 1)]
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        out += _texts_of(vars(obj), seen, depth + 1)
    headers = getattr(obj, "headers", None)
    if headers is not None:
        out += [f"{k}: {v}" for k, v in dict(headers).items()]
    return out


def _chain(err: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


_SDKS = ("openai", "httpx", "httpcore", "google", "aiohttp")


def assert_no_secret(err: BaseException) -> None:
    sdk = [type(e) for e in _chain(err) if type(e).__module__.split(".")[0].rstrip("0123456789") in _SDKS]
    assert not sdk, f"the SDK's exceptions (which carry the request headers) were kept: {sdk}"
    for text in _texts_of(err, set()):
        for form in FORMS:
            assert form not in text, f"{form!r} leaked in {text[:300]!r}"
        assert SECRET[:12] not in text


def _config(base_url: str, **kw: Any) -> LLMConfig:
    return LLMConfig(model="fake", base_url=base_url, api_key=SECRET, retry_max_delay=0.01, **kw)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
async def test_http_errors_echoing_the_key_keep_no_trace_of_it(status: int) -> None:
    echoed = " | ".join(FORMS)
    async with FakeLLMServer() as server:
        server.fail_next(status, count=3, body=f"Incorrect API key provided: {echoed}", retry_after=0)
        with pytest.raises(KaguraError) as info:
            await call_llm("x", _config(server.base_url))
    assert "***" in str(info.value)
    assert_no_secret(info.value)


async def test_connection_refused_keeps_no_trace_of_the_key() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again at once: nothing listens there
    with pytest.raises(KaguraError) as info:
        await call_llm("x", _config(f"http://127.0.0.1:{port}/v1", max_attempts=1))
    assert_no_secret(info.value)


async def test_timeout_and_malformed_answers_keep_no_trace_of_the_key() -> None:
    async with FakeLLMServer() as server:
        server.hang_next()
        with pytest.raises(KaguraError) as info:
            await call_llm("x", _config(server.base_url, max_attempts=1, timeout=0.3))
        assert_no_secret(info.value)
        server.set_faults(malformed_every=1)
        with pytest.raises(KaguraError) as info:
            await call_llm("x", _config(server.base_url, max_attempts=1))
        assert_no_secret(info.value)


async def test_streaming_errors_keep_no_trace_of_the_key() -> None:
    from kagura.core.llm import call_llm_stream

    async with FakeLLMServer() as server:
        server.fail_next(401, body=f"bad key {SECRET}")
        with pytest.raises(KaguraError) as info:
            async for _ in call_llm_stream("x", _config(server.base_url, max_attempts=1)):
                pass
    assert_no_secret(info.value)


def test_redact_covers_every_echoed_form() -> None:
    message = " / ".join(FORMS) + " / " + SECRET[:10]
    redacted = redact(message, SECRET)
    for form in FORMS:
        assert form not in redacted
    assert "Bearer ***" in redacted
    assert SECRET[:8] not in redacted
    assert redact("nothing to hide", SECRET) == "nothing to hide"
    assert redact("short k", "k") == "short k"  # too short to redact safely


@pytest.mark.parametrize(
    ("key", "what"),
    [("sk-abc123456\n", "newline"), ("sk-abc 123456", "space"), (" sk-abc123456", "space"),
     ("sk-abc12345é", "non-ASCII"), ("sk-abc\t123456", "tab"), ("sk-\x00abc123456", "control")],
)  # fmt: skip
async def test_malformed_key_is_a_configuration_error_before_any_request(key: str, what: str) -> None:
    async with FakeLLMServer() as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key=key)
        with pytest.raises(ConfigurationError, match="malformed") as info:
            await call_llm("x", config)
        assert what in str(info.value)
        assert key.strip() not in str(info.value)
        assert server.stats.requests == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout", math.nan), ("timeout", math.inf), ("timeout", 0), ("timeout", -1),
     ("temperature", math.nan), ("temperature", -0.5), ("temperature", math.inf),
     ("retry_max_delay", math.nan), ("retry_max_delay", -1), ("retry_max_delay", math.inf),
     ("cache_ttl", math.nan), ("cache_ttl", 0), ("max_attempts", 0),
     ("max_tokens", 0), ("requests_per_minute", math.nan),
     ("requests_per_minute", 0), ("tokens_per_minute", math.inf), ("tokens_per_minute", -3)],
)  # fmt: skip
def test_numeric_fields_are_validated(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        LLMConfig(model="m", **{field: value})


def test_numeric_fields_accept_sensible_values() -> None:
    config = LLMConfig(
        model="m", timeout=0.5, temperature=1.5, retry_max_delay=0, cache_ttl=None, max_tokens=1
    )
    assert (config.timeout, config.temperature, config.retry_max_delay) == (0.5, 1.5, 0)
    with pytest.raises(TypeError, match="timeout"):
        LLMConfig(model="m", timeout="60")  # type: ignore[arg-type]
    for field in ("max_attempts", "max_tokens"):  # a count is an int: 2.5 is the wrong type, like True
        with pytest.raises(TypeError, match=field):
            LLMConfig(model="m", **{field: 2.5})
