"""``kagura route``: offline, with a conversation store for follow-ups."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kagura.cli.app import app


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
    assert "agents file" in wrong.output
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps({"greeter": {"intents": ["hello"]}}), encoding="utf-8")
    ok = runner.invoke(app, ["route", "hello there", "--agents", str(custom), "--strategy", "intent"])
    assert ok.output.splitlines()[0] == "greeter"
