"""LLMConfig environment defaults, provider choice and registry, attachments, the in-process fake provider."""

from __future__ import annotations

import pytest

from kagura._redact import redact_text as redact
from kagura.core.llm import (
    Attachment,
    LLMClient,
    LLMConfig,
    LLMRequest,
    LLMResponse,
    Provider,
    Usage,
    call_llm,
    call_llm_stream,
    complete,
    get_provider,
    provider_names,
    register_provider,
    track_usage,
)
from kagura.core.llm.providers._errors import retry_after_from_headers
from kagura.errors import AuthenticationError, UnsupportedAttachmentError
from kagura.testing import FakeProvider

ENV = ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_MODEL", "KAGURA_LLM_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_env_defaults(clean_env: pytest.MonkeyPatch) -> None:
    config = LLMConfig()
    assert (config.model, config.base_url, config.api_key) == ("gpt-4o-mini", None, None)
    clean_env.setenv("KAGURA_LLM_MODEL", "llama3")
    clean_env.setenv("KAGURA_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    clean_env.setenv("OPENAI_API_KEY", "sk-openai-key")
    config = LLMConfig()
    assert (config.model, config.base_url, config.api_key) == (
        "llama3",
        "http://127.0.0.1:11434/v1",
        "sk-openai-key",
    )
    clean_env.setenv("KAGURA_LLM_API_KEY", "sk-kagura-key")
    assert LLMConfig().api_key == "sk-kagura-key"  # KAGURA_LLM_API_KEY wins over OPENAI_API_KEY
    explicit = LLMConfig(model="m", base_url="http://x/v1", api_key="given")
    assert (explicit.model, explicit.base_url, explicit.api_key) == ("m", "http://x/v1", "given")
    assert "sk-kagura-key" not in repr(LLMConfig()) and "given" not in repr(explicit)


def test_provider_choice(clean_env: pytest.MonkeyPatch) -> None:
    assert LLMConfig(model="gemini-2.0-flash").provider_name == "openai"  # no Gemini key
    clean_env.setenv("GEMINI_API_KEY", "g-key")
    assert LLMConfig(model="gemini-2.0-flash").provider_name == "gemini"
    assert LLMConfig(model="gemini-2.0-flash", base_url="http://127.0.0.1:1/v1").provider_name == "openai"
    assert LLMConfig(model="gpt-4o").provider_name == "openai"
    assert LLMConfig(model="x", provider="fake").provider_name == "fake"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"timeout": 0}, "timeout"), ({"max_attempts": 0}, "max_attempts"), ({"max_tokens": 0}, "max_tokens"),
     ({"cache_ttl": -1}, "cache_ttl"), ({"requests_per_minute": 0}, "requests_per_minute")],
)  # fmt: skip
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LLMConfig(model="m", **kwargs)


async def test_missing_key_for_the_openai_api_is_a_clear_error(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(AuthenticationError, match="KAGURA_LLM_API_KEY"):
        await call_llm("x", LLMConfig(model="gpt-4o-mini"))


def test_unknown_provider_lists_the_registered_ones() -> None:
    assert {"fake", "openai"} <= set(provider_names())
    with pytest.raises(ValueError, match=r"registered: .*openai"):
        get_provider("nope")


async def test_user_provider_via_registry_and_capability_check() -> None:
    @register_provider
    class Upper(Provider):
        name = "upper-test"
        accepted_kinds = frozenset({"image"})

        async def complete(self, request: LLMRequest) -> LLMResponse:
            return LLMResponse(request.prompt.upper(), Usage(1, 1), model=request.model, provider=self.name)

    config = LLMConfig(model="m", provider="upper-test")
    assert await call_llm("abc", config) == "ABC"
    assert [d async for d in call_llm_stream("abc", config)] == ["ABC"]  # default stream: one delta
    with pytest.raises(UnsupportedAttachmentError, match="audio"):
        await call_llm("x", config, attachments=[Attachment.from_bytes(b"ID3", "audio/mpeg")])


async def test_fake_provider_needs_no_http(fake_provider: FakeProvider) -> None:
    fake_provider.responder = lambda request: f"{len(request.attachments)} files"
    config = LLMConfig(model="m", provider="fake")
    video = Attachment.from_bytes(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    client = LLMClient(config, provider=fake_provider)  # injected like a transport
    with track_usage() as usage:
        response = await complete("x", config, attachments=[video], client=client)
    assert response.text == "1 files" and response.provider == "fake"
    assert fake_provider.requests[0].attachments == (video,)
    assert usage.total == response.usage


def test_attachment_hash_kind_and_errors(tmp_path) -> None:
    a = Attachment.from_bytes(b"same", "image/png")
    b = Attachment.from_bytes(b"same", "image/png", name="other-name.png")
    assert a.content_hash == b.content_hash and a.kind == "image"
    assert Attachment.from_bytes(b"x", "application/pdf").kind == "pdf"
    assert a.data_url() == "data:image/png;base64,c2FtZQ=="
    with pytest.raises(ValueError, match="MIME type"):
        Attachment.from_bytes(b"x", "application/zip")
    with pytest.raises(ValueError, match="not a readable file"):
        Attachment.from_path(tmp_path / "missing.png")
    (tmp_path / "blob.unknownext").write_bytes(b"x")
    with pytest.raises(ValueError, match="mime_type="):
        Attachment.from_path(tmp_path / "blob.unknownext")
    (tmp_path / "song.mp3").write_bytes(b"ID3")
    assert Attachment.from_path(tmp_path / "song.mp3").mime_type == "audio/mpeg"


def test_token_estimates_include_attachments() -> None:
    provider = get_provider("openai")
    text_only = LLMRequest(model="m", prompt="x" * 400, max_tokens=10)
    with_image = LLMRequest(
        model="m", prompt="x" * 400, max_tokens=10, attachments=(Attachment.from_bytes(b"i", "image/png"),)
    )
    audio = Attachment(b"a", "audio/wav", duration_s=10.0)
    with_audio = LLMRequest(model="m", prompt="x" * 400, max_tokens=10, attachments=(audio,))
    base = provider.estimate_tokens(text_only)
    assert base == 111
    assert provider.estimate_tokens(with_image) == base + 765
    assert provider.estimate_tokens(with_audio) == base + 320
    assert get_provider("gemini").estimate_tokens(with_image) == base + 258  # per-provider documented cost


def test_retry_after_parsing_and_redaction() -> None:
    assert retry_after_from_headers({"retry-after": "3"}) == 3.0
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_from_headers({}) is None
    assert retry_after_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert redact("bad key sk-abcdefgh12345678", "sk-abcdefgh12345678") == "bad key ***"
    assert redact("key sk-abcdef...5678", "sk-abcdefgh12345678") == "key ***f...5678"  # prefix hidden too


async def test_attachment_load_reads_off_the_loop(tmp_path) -> None:
    (tmp_path / "note.txt").write_text("hello")
    att = await Attachment.load(tmp_path / "note.txt")
    assert (att.kind, att.data, att.name) == ("text", b"hello", "note.txt")


def test_parse_completion_shapes() -> None:
    from kagura.core.llm.providers._openai import parse_completion
    from kagura.errors import MalformedResponseError

    ok = {
        "choices": [{"message": {"content": "hi"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": "x"},
    }
    assert parse_completion(ok) == ("hi", Usage(3, 0))
    for bad in ("plain text body", {"choices": []}, {"choices": [{"message": {"content": None}}]}, None):
        with pytest.raises(MalformedResponseError):
            parse_completion(bad)


def test_call_llm_sync_without_a_loop() -> None:
    from kagura.core.llm import call_llm_sync

    assert call_llm_sync("hello", LLMConfig(model="m", provider="fake")) == "fake answer: hello"
