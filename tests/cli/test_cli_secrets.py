"""No command prints a credential (issue 19 §4): a PostgreSQL password in the URL's query string, and a
proxy's ``user:password@`` inside ``--base-url`` (which named the shared budget in Redis)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagura.cli.app import app
from kagura.core.llm import LLMClient, LLMConfig
from kagura.testing import FakeLLMServer, RedisServer

runner = CliRunner()
SECRET = "pg-Query-Secret-42"
# nothing listens there: every command fails to connect and says so, naming the store
STORES = [
    f"postgresql://kagura@/kagura?host=/nonexistent-kagura-socket-dir&password={SECRET}",
    f"postgresql://kagura@/kagura?host=/nonexistent-kagura-socket-dir&sslpassword={SECRET}&sslmode=disable",
    f"postgresql://kagura:{SECRET}@/kagura?host=/nonexistent-kagura-socket-dir",
]


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.md").write_text("# Title\n\nsome words to index.", "utf-8")
    return root


@pytest.mark.parametrize("store", STORES)
def test_store_commands_never_print_a_postgres_password(tmp_path: Path, store: str) -> None:
    commands = [
        ["search", "words", "--store", store, "--mode", "keyword"],
        ["ask", "which words?", "--store", store, "--offline"],
        ["ingest", str(_corpus(tmp_path)), "--store", store, "--offline"],
        ["store", "migrate", store, str(tmp_path / "copy.db")],
        ["store", "migrate", str(tmp_path / "missing.db"), store],
    ]
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code != 0, (args, result.output)
        assert SECRET not in result.output, (args, result.output)
        if args[0] != "store" or args[2] == store:
            assert "nonexistent-kagura-socket-dir" in result.output, (args, result.output)  # still says where


def test_base_url_credentials_never_name_the_shared_budget(redis_server: RedisServer) -> None:
    base_url = asyncio.run(_call_through_a_proxy_url(redis_server))
    shown = runner.invoke(app, ["budget", "show", "--json", "--redis", redis_server.url])
    assert shown.exit_code == 0, shown.output
    keys = [b["key"] for b in json.loads(shown.output)]
    assert any(base_url in k for k in keys)
    assert "proxy-Secret-77" not in shown.output


async def _call_through_a_proxy_url(redis_server: RedisServer) -> str:
    """One call with a base URL carrying credentials; the server's plain base URL."""
    async with FakeLLMServer() as server:
        proxied = server.base_url.replace("http://", "http://team:proxy-Secret-77@")
        config = LLMConfig(
            model="fake", base_url=proxied, api_key="sk-any-key-000", redis_url=redis_server.url,
            requests_per_minute=600,
        )  # fmt: skip
        async with LLMClient(config) as client:
            await client.call("hello")
            assert client.limiter.shared is not None
            key = client.limiter.shared.key
            assert "proxy-Secret-77" not in key and server.base_url in key
            assert "proxy-Secret-77" not in repr(client) and "proxy-Secret-77" not in repr(config)
        return server.base_url


def test_budget_show_masks_a_redis_password() -> None:
    url = "redis://:redis-Secret-88@127.0.0.1:1/0"  # nothing listens on port 1
    result = runner.invoke(app, ["budget", "show", "--redis", url])
    assert result.exit_code == 1
    assert "redis-Secret-88" not in result.output and "127.0.0.1:1" in result.output


def test_a_short_key_does_not_mangle_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGURA_LLM_API_KEY", "k")
    result = runner.invoke(app, ["route", "hi", "--strategy", "llm", "--fallback", "nobody"])
    assert "***" not in result.output
