"""call_llm / complete through the real openai SDK against the loopback fake server."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import struct

import pytest

from kagura.core.llm import Attachment, LLMConfig, call_llm, call_llm_stream, complete, track_usage
from kagura.errors import (
    AuthenticationError,
    InvalidRequestError,
    KaguraTimeoutError,
    MalformedResponseError,
    ProviderConnectionError,
    RateLimitedError,
    ServerError,
    UnsupportedAttachmentError,
)
from kagura.testing import FakeLLMServer, Faults

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _wav(seconds: float = 0.1, rate: int = 8000) -> bytes:
    frames = b"\x00\x00" * int(rate * seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


async def test_success_returns_text_and_usage(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    response = await complete("Translate 'hello' to French", fake_llm_config, system="be brief")
    assert response.text == "fake answer: Translate 'hello' to French"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.usage == response.usage + type(response.usage)()
    body = fake_llm_server.received[0]
    assert body["model"] == "fake"
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["temperature"] == 0.0
    assert await call_llm("x", fake_llm_config) == "fake answer: x"


async def test_attachments_are_serialised_as_openai_parts(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig, tmp_path
) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    wav = _wav()
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF"
    attachments = [
        Attachment.from_path(tmp_path / "cat.png"),
        Attachment.from_bytes(wav, "audio/wav"),
        Attachment.from_bytes(pdf, "application/pdf", name="doc.pdf"),
    ]
    await call_llm("Describe", fake_llm_config, attachments=attachments)
    parts = fake_llm_server.received[0]["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "Describe"}
    assert parts[1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    }
    assert parts[2] == {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"},
    }
    assert parts[3]["type"] == "file"
    assert parts[3]["file"]["filename"] == "doc.pdf"
    assert base64.b64decode(parts[3]["file"]["file_data"].split(",", 1)[1]) == pdf
    assert attachments[1].duration_s == pytest.approx(0.1)
    assert attachments[2].pages == 1


async def test_unsupported_attachment_rejected_before_any_call(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    video = Attachment.from_bytes(b"\x00\x00\x00\x18ftypmp42", "video/mp4", name="clip.mp4")
    with pytest.raises(UnsupportedAttachmentError, match="video"):
        await call_llm("x", fake_llm_config, attachments=[video])
    with pytest.raises(UnsupportedAttachmentError, match="audio/flac"):
        await call_llm("x", fake_llm_config, attachments=[Attachment.from_bytes(b"fLaC", "audio/flac")])
    assert fake_llm_server.stats.requests == 0


@pytest.mark.looptime
async def test_429_is_retried_after_retry_after(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    fake_llm_server.fail_next(429, retry_after=7)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await call_llm("x", fake_llm_config) == "fake answer: x"
    assert fake_llm_server.stats.requests == 2
    assert loop.time() - start >= 7  # the virtual clock advanced by exactly the requested wait


async def test_429_surfaces_retry_after_when_attempts_run_out(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    fake_llm_server.fail_next(429, retry_after=2.5)
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key="test", max_attempts=1)
    with pytest.raises(RateLimitedError) as info:
        await call_llm("x", config)
    assert info.value.retry_after == 2.5


async def test_500_is_retried(fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig) -> None:
    fake_llm_server.fail_next(500, count=2)
    assert await call_llm("x", fake_llm_config) == "fake answer: x"
    assert fake_llm_server.stats.requests == 3


async def test_persistent_500_raises_server_error(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    fake_llm_server.set_faults(server_error_every=1)
    with pytest.raises(ServerError) as info:
        await call_llm("x", fake_llm_config)
    assert info.value.status == 500
    assert fake_llm_server.stats.requests == fake_llm_config.max_attempts


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (403, AuthenticationError),
                                               (400, InvalidRequestError), (404, InvalidRequestError),
                                               (422, InvalidRequestError)])  # fmt: skip
async def test_fatal_statuses_are_not_retried(
    fake_llm_server: FakeLLMServer, status: int, error: type[Exception]
) -> None:
    secret = "sk-very-secret-key-123456"
    fake_llm_server.fail_next(status, body=f"Incorrect API key provided: {secret}")
    config = LLMConfig(model="fake", base_url=fake_llm_server.base_url, api_key=secret)
    with pytest.raises(error) as info:
        await call_llm("x", config)
    assert fake_llm_server.stats.requests == 1
    assert secret not in str(info.value)
    assert secret not in repr(config)


async def test_timeout_is_retryable(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.hang_next()
    config = LLMConfig(
        model="fake", base_url=fake_llm_server.base_url, api_key="t", timeout=1.0, max_attempts=3
    )
    assert await call_llm("x", config) == "fake answer: x"  # the hung first request timed out, then a retry
    assert fake_llm_server.stats.requests >= 2


async def test_timeout_raises_kagura_timeout_error(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.set_faults(hang_every=1)
    config = LLMConfig(
        model="fake", base_url=fake_llm_server.base_url, api_key="t", timeout=0.2, max_attempts=1
    )
    with pytest.raises(KaguraTimeoutError):
        await call_llm("x", config)


async def test_connection_refused_is_retryable_connection_error() -> None:
    async with FakeLLMServer() as server:
        url = server.base_url
    config = LLMConfig(model="fake", base_url=url, api_key="t", max_attempts=1)
    with pytest.raises(ProviderConnectionError):
        await call_llm("x", config)


async def test_malformed_response_gives_clear_error(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    fake_llm_server.set_faults(Faults(malformed_every=1))
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        await call_llm("x", fake_llm_config)
    assert fake_llm_server.stats.requests == 1  # not retried: the server will not fix itself


async def test_wrong_shaped_json_gives_clear_error() -> None:
    from aiohttp import web

    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"id": "x", "object": "chat.completion", "choices": []})

    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        config = LLMConfig(model="fake", base_url=f"http://127.0.0.1:{port}/v1", api_key="t")
        with pytest.raises(MalformedResponseError, match="choices"):
            await call_llm("x", config)
    finally:
        await runner.cleanup()


async def test_streaming_yields_deltas_and_records_usage(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    with track_usage() as usage:
        deltas = [d async for d in call_llm_stream("one two", fake_llm_config)]
    assert len(deltas) > 1
    assert "".join(deltas) == "fake answer: one two"
    assert fake_llm_server.received[0]["stream"] is True
    assert usage.calls == 1 and usage.total.completion_tokens > 0


async def test_usage_sums_over_concurrent_calls(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    with track_usage() as outer:
        responses = await asyncio.gather(*(complete(f"q{i}", fake_llm_config) for i in range(4)))
        with track_usage() as inner:
            last = await complete("last", fake_llm_config)
    assert outer.calls == 5 and inner.calls == 1
    assert inner.total == last.usage
    expected = sum((r.usage for r in responses), last.usage)
    assert outer.total == expected
    assert outer.total.prompt_tokens == fake_llm_server.stats.prompt_tokens
    assert outer.total.completion_tokens == fake_llm_server.stats.completion_tokens


async def test_bad_arguments_raise_type_errors(fake_llm_config: LLMConfig) -> None:
    with pytest.raises(TypeError, match="prompt"):
        await call_llm(123, fake_llm_config)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Attachment"):
        await call_llm("x", fake_llm_config, attachments=["cat.png"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="LLMConfig"):
        await call_llm("x", {"model": "x"})  # type: ignore[arg-type]


async def test_streams_are_not_cached_and_errors_are_translated(
    fake_llm_server: FakeLLMServer, tmp_path
) -> None:
    config = LLMConfig(
        model="fake",
        base_url=fake_llm_server.base_url,
        api_key="t",
        enable_cache=True,
        cache_path=tmp_path / "c.db",
    )
    for _ in range(2):
        assert "".join([d async for d in call_llm_stream("s", config)]) == "fake answer: s"
    assert fake_llm_server.stats.requests == 2
    fake_llm_server.fail_next(429, retry_after=3)
    with pytest.raises(RateLimitedError) as info:
        _ = [d async for d in call_llm_stream("s", dataclasses.replace(config, max_attempts=1))]
    assert info.value.retry_after == 3.0


async def test_stream_retries_a_failure_before_the_first_delta(
    fake_llm_server: FakeLLMServer, fake_llm_config: LLMConfig
) -> None:
    fake_llm_server.fail_next(503)
    assert "".join([d async for d in call_llm_stream("r", fake_llm_config)]) == "fake answer: r"
    assert fake_llm_server.stats.requests == 2
