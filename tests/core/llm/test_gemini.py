"""The Gemini provider against a loopback server speaking the Gemini REST API (no network, no key)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

pytest.importorskip("google.genai")

from kagura.core.llm import (
    Attachment,
    LLMConfig,
    call_llm,
    call_llm_stream,
    complete,
    track_usage,
)
from kagura.core.llm.providers import _gemini
from kagura.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    KaguraError,
    RateLimitedError,
    ServerError,
)

# google-genai subclasses aiohttp.ClientSession, which aiohttp warns about: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")


class FakeGemini:
    """Records generateContent bodies and File API calls; scripted failures by status."""

    def __init__(self) -> None:
        self.generate: list[dict[str, Any]] = []
        self.uploads: list[bytes] = []
        self.deleted: list[str] = []
        self.gets = 0
        self.fail: list[tuple[int, dict[str, str]]] = []
        self.url = ""
        self.usage: dict[str, int] = {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if self.fail:
            status, headers = self.fail.pop(0)
            body = {"error": {"code": status, "message": "scripted", "status": "X"}}
            return web.json_response(body, status=status, headers=headers)
        if path.endswith(":streamGenerateContent"):
            self.generate.append(await request.json())
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i, word in enumerate(["gemini", " streams", " hi"]):
                chunk: dict[str, Any] = {
                    "candidates": [{"content": {"parts": [{"text": word}], "role": "model"}}]
                }
                if i == 2:
                    chunk["usageMetadata"] = {"promptTokenCount": 4, "candidatesTokenCount": 3}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write_eof()
            return response
        if path.endswith(":generateContent"):
            self.generate.append(await request.json())
            return web.json_response({
                "candidates": [{"content": {"parts": [{"text": "gemini says hi"}], "role": "model"}}],
                "usageMetadata": self.usage,
            })  # fmt: skip
        if path.startswith("/upload/") and request.method == "POST" and "upload_id" not in request.query:
            return web.json_response(
                {}, headers={"X-Goog-Upload-URL": f"{self.url}/upload/v1beta/files?upload_id=1"}
            )
        if path.startswith("/upload/"):
            self.uploads.append(await request.read())
            file = {"name": "files/abc", "uri": f"{self.url}/v1beta/files/abc", "mimeType": "video/mp4",
                    "state": "PROCESSING"}  # fmt: skip
            return web.json_response({"file": file}, headers={"X-Goog-Upload-Status": "final"})
        if path.endswith("/files/abc") and request.method == "GET":
            self.gets += 1
            return web.json_response({"name": "files/abc", "uri": f"{self.url}/v1beta/files/abc",
                                      "mimeType": "video/mp4", "state": "ACTIVE"})  # fmt: skip
        if path.endswith("/files/abc") and request.method == "DELETE":
            self.deleted.append("files/abc")
            return web.json_response({})
        return web.json_response({"error": {"code": 404, "message": path}}, status=404)


@pytest_asyncio.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    fake = FakeGemini()
    app = web.Application(client_max_size=2**26)
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


def _field(d: dict[str, Any], camel: str) -> Any:
    """The SDK may send camelCase or snake_case JSON keys; the API accepts both."""
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d[camel] if camel in d else d[snake]


def _config(fake: FakeGemini, **kw: Any) -> LLMConfig:
    return LLMConfig(
        model="gemini-2.0-flash",
        provider="gemini",
        base_url=fake.url,
        gemini_api_key="g-secret-key-1234",
        **kw,
    )


async def test_generate_with_inline_attachment_and_system(gemini: FakeGemini) -> None:
    image = Attachment.from_bytes(b"\x89PNG tiny", "image/png")
    response = await complete("describe", _config(gemini, max_tokens=50), attachments=[image], system="terse")
    assert response.text == "gemini says hi"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 3)
    body = gemini.generate[0]
    parts = body["contents"][0]["parts"]
    assert parts[0] == {"text": "describe"}
    inline = _field(parts[1], "inlineData")
    assert inline["data"] == base64.b64encode(b"\x89PNG tiny").decode()
    assert _field(inline, "mimeType") == "image/png"
    assert _field(body, "systemInstruction")["parts"][0]["text"] == "terse"
    assert _field(_field(body, "generationConfig"), "maxOutputTokens") == 50
    assert _field(body, "generationConfig")["temperature"] == 0.0


async def test_large_attachment_goes_through_the_file_api(
    gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_gemini, "INLINE_LIMIT", 10)  # a knob of the module, not a patched behaviour
    monkeypatch.setattr(_gemini, "FILE_POLL_INTERVAL", 0.0)
    video = Attachment.from_bytes(b"\x00\x00\x00\x18ftypmp42" + b"v" * 100, "video/mp4")
    assert await call_llm("what happens?", _config(gemini), attachments=[video]) == "gemini says hi"
    assert gemini.uploads == [video.data]
    assert gemini.gets >= 1  # waited for PROCESSING -> ACTIVE
    parts = gemini.generate[0]["contents"][0]["parts"]
    assert _field(_field(parts[1], "fileData"), "fileUri").endswith("/v1beta/files/abc")
    assert gemini.deleted == ["files/abc"]  # deleted after use


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (400, InvalidRequestError),
        (404, InvalidRequestError),
    ],
)
async def test_fatal_errors_are_translated_and_not_retried(
    gemini: FakeGemini, status: int, error: type
) -> None:
    gemini.fail = [(status, {})]
    with pytest.raises(error) as info:
        await call_llm("x", _config(gemini))
    assert "g-secret-key-1234" not in str(info.value)
    assert gemini.generate == [] and gemini.fail == []
    chain, current = [], info.value  # the SDK's exception (its request carries the key) is not kept
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    assert all(isinstance(e, KaguraError) for e in chain), chain
    assert all("g-secret-key-1234" not in repr(e) for e in chain)


async def test_malformed_gemini_key_fails_before_any_request(gemini: FakeGemini) -> None:
    config = LLMConfig(model="gemini-2.0-flash", provider="gemini", base_url=gemini.url,
                       gemini_api_key="g-secret-key-1234\n")  # fmt: skip
    with pytest.raises(ConfigurationError, match=r"malformed.*newline.*GEMINI_API_KEY"):
        await call_llm("x", config)
    assert gemini.generate == []


async def test_429_and_500_are_retryable(gemini: FakeGemini) -> None:
    gemini.fail = [(429, {"Retry-After": "0"}), (503, {})]
    assert await call_llm("x", _config(gemini, retry_max_delay=0.01)) == "gemini says hi"
    gemini.fail = [(429, {"Retry-After": "4"})]
    with pytest.raises(RateLimitedError) as info:
        await call_llm("y", _config(gemini, max_attempts=1))
    assert info.value.retry_after == 4.0
    gemini.fail = [(500, {})]
    with pytest.raises(ServerError):
        await call_llm("z", _config(gemini, max_attempts=1))


def test_config_building_is_pure() -> None:
    from kagura.core.llm import LLMRequest

    config = _gemini.build_gemini_config(LLMRequest(model="m", prompt="p", system="s", temperature=0.3))
    assert config.temperature == 0.3 and config.system_instruction == "s"
    assert json.dumps(config.model_dump(exclude_none=True))


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("GEMINI_API_KEY"), reason="needs GEMINI_API_KEY")
async def test_live_gemini() -> None:
    text = await call_llm("Answer with one word: the colour of the sky?", LLMConfig(model="gemini-2.0-flash"))
    assert text.strip()


async def test_streaming_yields_deltas_and_usage(gemini: FakeGemini) -> None:
    with track_usage() as usage:
        deltas = [d async for d in call_llm_stream("hello", _config(gemini))]
    assert deltas == ["gemini", " streams", " hi"]
    assert usage.total.prompt_tokens == 4 and usage.total.completion_tokens == 3


async def test_cost_counts_cached_and_thinking_tokens_as_gemini_bills_them(gemini: FakeGemini) -> None:
    # Gemini's promptTokenCount includes the cached tokens; thoughts are billed as output on top of the
    # candidates. gemini-2.0-flash: $0.10 input, $0.025 cached, $0.40 output per 1M tokens.
    gemini.usage = {"promptTokenCount": 400_000, "cachedContentTokenCount": 100_000,
                    "candidatesTokenCount": 50_000, "thoughtsTokenCount": 25_000}  # fmt: skip
    with track_usage() as usage:
        for _ in range(3):
            response = await complete("think", _config(gemini))
    u = response.usage
    assert (u.prompt_tokens, u.cached_input_tokens, u.completion_tokens, u.reasoning_tokens) == (
        400_000, 100_000, 75_000, 25_000
    )  # fmt: skip
    hand = 3 * (300_000 * 0.10 + 100_000 * 0.025 + 75_000 * 0.40) / 1e6
    assert round(usage.cost_by_model["gemini:gemini-2.0-flash"] or 0, 2) == round(hand, 2)
    assert usage.cost_usd == pytest.approx(hand)


async def test_schema_goes_as_response_json_schema_and_repairs_use_model_turns(gemini: FakeGemini) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    # the fake answers "gemini says hi" (not JSON) every time: one repair, then the error
    from kagura.errors import StructuredOutputError

    with pytest.raises(StructuredOutputError) as caught:
        await complete("where?", _config(gemini), schema=schema, max_repairs=1)
    first, repair = gemini.generate
    config = _field(first, "generationConfig")
    assert _field(config, "responseMimeType") == "application/json"
    assert _field(config, "responseJsonSchema") == schema
    roles = [c["role"] for c in repair["contents"]]
    assert roles == ["user", "model", "user"]
    assert repair["contents"][1]["parts"][0]["text"] == "gemini says hi"
    assert "not valid JSON" in repair["contents"][2]["parts"][0]["text"]
    assert caught.value.answer == "gemini says hi" and caught.value.attempts == 2
