"""The lean HTTP path's edges: any JSON body split into any chunks reads back whole; a proxy or
``KAGURA_HTTP=sdk`` hands the calls to the SDK; the pool keeps one connection per concurrent call and
closes them on ``aclose``; the key appears in no repr."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raw_http import RawHttpServer, Seen, completion, response

from kagura.core.llm import OpenAICompatibleProvider
from kagura.core.llm._types import LLMRequest
from kagura.errors import ConfigurationError, ProviderConnectionError

KEY = "sk-edge-test-key-0123456789"
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _request(base_url: str) -> LLMRequest:
    return LLMRequest(model="fake", prompt="hi", base_url=base_url, api_key=KEY, timeout=10.0)


@given(
    body=st.dictionaries(st.text(max_size=10), _json, max_size=6),
    splits=st.lists(st.integers(0, 10_000), max_size=8),
    framing=st.sampled_from(["length", "chunked", "close"]),
    encoding=st.sampled_from([None, "gzip", "deflate"]),
)
@settings(max_examples=60, deadline=None)
def test_any_json_body_in_any_framing_and_chunking_reads_back_whole(
    body: dict[str, Any], splits: list[int], framing: str, encoding: str | None
) -> None:
    async def run() -> Any:
        answer = response(body, framing=framing, encoding=encoding, splits=splits)
        async with RawHttpServer(lambda seen: answer) as server:
            provider = OpenAICompatibleProvider()
            try:
                answer = await provider.post_json("/embeddings", {"input": "x"}, _request(server.base_url))
            finally:
                await provider.aclose()
            assert server.seen[0].headers["user-agent"].startswith("kagura")  # carried by the lean path
            return answer.body

    assert asyncio.run(run()) == json.loads(json.dumps(body))


def _absolute_form_answer(seen: Seen) -> list[Any]:
    return response(completion("via " + ("proxy" if seen.target.startswith("http://") else "origin")))


async def test_a_proxy_for_the_host_hands_the_call_to_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scripted server plays the proxy: the SDK sends it the absolute URL; the lean path never would.
    async with RawHttpServer(_absolute_form_answer) as proxy:
        proxy_url = proxy.base_url.removesuffix("/v1")
        target = "http://llm.invalid:8000/v1"
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        provider = OpenAICompatibleProvider()
        assert (await provider.complete(_request(target))).text == "via proxy"
        await provider.aclose()
        assert proxy.seen[0].target == "http://llm.invalid:8000/v1/chat/completions"

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the proxy is bypassed for this host: lean path
        async with RawHttpServer(_absolute_form_answer) as origin:
            provider = OpenAICompatibleProvider()
            assert (await provider.complete(_request(origin.base_url))).text == "via origin"
            await provider.aclose()
            assert origin.seen[0].headers["user-agent"].startswith("kagura")


async def test_kagura_http_sdk_sends_through_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    async with RawHttpServer(lambda seen: response()) as server:
        monkeypatch.setenv("KAGURA_HTTP", "sdk")
        provider = OpenAICompatibleProvider()
        await provider.complete(_request(server.base_url))
        monkeypatch.setenv("KAGURA_HTTP", "lean")
        other = OpenAICompatibleProvider()
        await other.complete(_request(server.base_url))
        await provider.aclose()
        await other.aclose()
    agents = [seen.headers["user-agent"] for seen in server.seen]
    assert not agents[0].startswith("kagura") and agents[1].startswith("kagura")


async def test_an_unknown_kagura_http_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGURA_HTTP", "curl")
    provider = OpenAICompatibleProvider()
    with pytest.raises(ConfigurationError, match="KAGURA_HTTP must be 'lean'"):
        await provider.complete(_request("http://127.0.0.1:9/v1"))


async def test_concurrent_calls_use_one_connection_each_reused_and_closed_by_aclose() -> None:
    async with RawHttpServer(lambda seen: [0.02, *response()]) as server:
        provider = OpenAICompatibleProvider()
        for _ in range(3):  # three waves of four calls at once: four connections, opened once
            await asyncio.gather(*(provider.complete(_request(server.base_url)) for _ in range(4)))
        assert server.connections == 4 and len(server.seen) == 12
        assert all(seen.headers["user-agent"].startswith("kagura") for seen in server.seen)
        await provider.aclose()
        await asyncio.wait_for(server.wait_client_closes(4), 10)


async def test_the_key_is_in_no_repr_of_the_lean_path() -> None:
    async with RawHttpServer(lambda seen: response()) as server:
        provider = OpenAICompatibleProvider()
        await provider.complete(_request(server.base_url))
        held = [repr(v) for per_loop in provider._clients.values() for v in per_loop.values()]
        await provider.aclose()
    assert held and not any(KEY in text for text in held)


async def test_paths_and_organisation_headers_are_sent_as_the_sdk_sends_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-lean")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-lean")
    async with RawHttpServer(lambda seen: response()) as server:
        for mode in ("lean", "sdk"):
            monkeypatch.setenv("KAGURA_HTTP", mode)
            provider = OpenAICompatibleProvider()
            await provider.post_json("/odd path/é#x", {"input": "x"}, _request(server.base_url))
            await provider.aclose()
    lean, sdk = server.seen
    assert lean.headers["user-agent"].startswith("kagura") and not sdk.headers["user-agent"].startswith(
        "kagura"
    )
    assert lean.target == sdk.target
    for name in ("openai-organization", "openai-project"):
        assert lean.headers[name] == sdk.headers[name]


async def test_an_organisation_id_that_would_split_the_headers_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org\r\nX-Injected: 1")
    provider = OpenAICompatibleProvider()
    with pytest.raises(ConfigurationError, match="OPENAI_ORG_ID must be printable ASCII"):
        await provider.complete(_request("http://127.0.0.1:9/v1"))


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (ca.pem) and a server certificate for localhost signed by it (server.pem, server.key)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("kagura test CA")).issuer_name(name("kagura test CA"))
        .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    server = (
        x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


async def test_https_trusts_ssl_cert_file_sends_sni_and_refuses_an_unknown_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = _certificates(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    tls.sni_callback = lambda sock, server_name, context: names.append(server_name)  # type: ignore[assignment]
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with RawHttpServer(lambda seen: response(completion("over tls")), tls=tls) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        provider = OpenAICompatibleProvider()
        assert (await provider.complete(_request(server.base_url))).text == "over tls"
        await provider.aclose()
        assert server.seen[0].headers["user-agent"].startswith("kagura") and names == ["localhost"]

        monkeypatch.setenv("SSL_CERT_FILE", str(cert.with_name("none.pem")))  # the CA is not trusted
        provider = OpenAICompatibleProvider()
        with pytest.raises(ProviderConnectionError, match=f"{server.base_url}/chat/completions"):
            await provider.complete(_request(server.base_url))
        await provider.aclose()
