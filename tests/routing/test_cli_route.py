"""``kagura route``: offline, with a conversation store for follow-ups."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kagura.cli.app import app
from kagura.routing._llm_strategy import SYSTEM as ROUTING_SYSTEM
from kagura.testing import FakeLLMServer


def test_route_prints_the_agent_and_candidates() -> None:
    result = CliRunner().invoke(app, ["route", "Translate 'cat' into Spanish", "--strategy", "intent"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "translator"


def test_route_resolves_a_follow_up_from_the_store(tmp_path: Path) -> None:
    store = tmp_path / "conv.db"
    runner = CliRunner()
    first = runner.invoke(app, ["route", "Translate 'hello' to French", "--memory", str(store), "--record"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        app, ["route", "What about Spanish?", "--strategy", "intent", "--memory", str(store), "--json"]
    )
    assert second.exit_code == 0, second.output
    data = json.loads(second.output)
    assert data["agent"] == "translator"
    assert data["path"] == "enhanced"
    assert "Translate 'hello' to French" in data["routed_query"]


def test_route_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    nothing = runner.invoke(app, ["route", "asdf qwerty", "--strategy", "intent"])
    assert nothing.exit_code == 1
    assert "no agent matched" in nothing.output
    bad = tmp_path / "agents.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    wrong = runner.invoke(app, ["route", "hi", "--agents", str(bad)])
    assert wrong.exit_code != 0
    assert "--agents" in wrong.output and "JSON object" in wrong.output
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps({"greeter": {"intents": ["hello"]}}), encoding="utf-8")
    ok = runner.invoke(app, ["route", "hello there", "--agents", str(custom), "--strategy", "intent"])
    assert ok.output.splitlines()[0] == "greeter"


def test_route_with_an_llm_over_the_fake_server(tmp_path: Path) -> None:
    """--strategy llm --llm: both the rewrite and the choice come from the (loopback) model."""

    def responder(messages: list[dict[str, Any]]) -> str:
        system = next(m["content"] for m in messages if m["role"] == "system")
        return "translator" if system == ROUTING_SYSTEM else "Translate 'hello' to Spanish"

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeLLMServer(responder=responder)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    try:
        store = str(tmp_path / "conv.db")
        runner = CliRunner()
        first = runner.invoke(
            app,
            ["route", "Translate 'hello' to French", "--strategy", "intent", "--memory", store, "--record"],
        )
        assert first.exit_code == 0, first.output
        flags = ["--model", "fake", "--base-url", server.base_url, "--api-key", "test"]
        args = ["route", "What about Spanish?", "--strategy", "llm", "--llm", "--memory", store, "--json"]
        result = runner.invoke(app, [*args, *flags])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert (data["agent"], data["path"], data["routed_query"]) == (
            "translator",
            "enhanced",
            "Translate 'hello' to Spanish",
        )
        assert server.stats.chat_requests >= 3  # rewrite + preliminary + enhanced routing (+ candidates)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
