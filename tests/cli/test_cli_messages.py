"""User errors on the command line: one clear line naming the flag, a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kagura.bench._runner import BENCHMARKS
from kagura.cli._errors import as_flags, redact
from kagura.cli.app import app
from kagura.testing import FakeLLMServer

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"


def flat(text: str) -> str:
    """The output with Rich's wrapping and box borders removed, for substring checks."""
    return " ".join(text.replace("│", " ").split())


def assert_one_line_error(result: Result, code: int, *fragments: str) -> str:
    """The command failed with ``code``, printed exactly one non-empty line, and it holds ``fragments``."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an escaped exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def kagura(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess (what a user sees, tracebacks included)."""
    environ = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kagura.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- route ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"echo": 3}', "agent 'echo' must be an object"),
        ('{"echo": ["hello"]}', "agent 'echo' must be an object"),
        ('{"echo": {"intents": 3}}', "'intents' must be a list of non-empty strings, got a number 3"),
        ('{"echo": {"samples": ["ok", 2]}}', "'samples' must be a list of non-empty strings"),
        ('{"echo": {"description": ["x"]}}', "'description' must be a string"),
        ('{"echo": {"intent": ["hello"]}}', "unknown field(s) intent"),
        ('{"echo": {"intents": ["hello"]', "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ("{}", "must hold a JSON object"),
        (b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_route_malformed_agents_file(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    path = tmp_path / "agents.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["route", "hi", "--agents", str(path), "--strategy", "intent"])
    assert_one_line_error(result, 2, "--agents", fragment)


def test_route_malformed_agents_file_shows_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    path.write_text('{"echo": {"intents": 3}}', encoding="utf-8")
    proc = kagura("route", "hi", "--agents", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    problem = "agent 'echo': 'intents' must be a list of non-empty strings, got a number 3"
    assert proc.stderr.strip().splitlines() == [f"error: --agents: {path}: {problem}"]


def test_route_record_needs_memory() -> None:
    result = runner.invoke(app, ["route", "Translate hi to French", "--strategy", "intent", "--record"])
    assert_one_line_error(result, 2, "--record", "--memory")


def test_route_unknown_fallback_lists_the_agents() -> None:
    result = runner.invoke(app, ["route", "hi", "--strategy", "intent", "--fallback", "nobody"])
    assert_one_line_error(
        result, 2, "--fallback 'nobody'", "translator, weather, calculator, calendar, search"
    )
    ok = runner.invoke(app, ["route", "asdf qwerty", "--strategy", "intent", "--fallback", "search"])
    assert ok.exit_code == 0 and ok.output.splitlines()[0] == "search"


def test_route_no_match_names_the_flags_and_threshold_is_one() -> None:
    result = runner.invoke(app, ["route", "asdf qwerty", "--strategy", "intent"])
    line = assert_one_line_error(result, 1, "no agent matched", "lower --threshold", "set --fallback")
    assert "threshold=" not in line and "fallback=" not in line
    lowered = runner.invoke(app, ["route", "asdf qwerty", "--strategy", "intent", "--threshold", "0"])
    assert lowered.exit_code == 0, lowered.output


def test_route_help_lists_the_builtin_agents() -> None:
    result = runner.invoke(app, ["route", "--help"])
    assert result.exit_code == 0
    assert "the built-in agents are: translator, weather, calculator, calendar, search" in flat(result.output)


def test_route_bad_strategy_is_one_line() -> None:
    result = runner.invoke(app, ["route", "hi", "--strategy", "magic"])
    assert_one_line_error(result, 2, "--strategy 'magic'", "intent | semantic | llm")


# -- bench / demo --------------------------------------------------------------------------------------


def test_bench_help_names_the_plot_extra() -> None:
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "`kagura[plot]` extra" in flat(result.output)
    assert "--full" in result.output


def test_bench_unknown_name_lists_every_choice_including_plot() -> None:
    result = runner.invoke(app, ["bench", "bogus"])
    choices = ", ".join(["all", *BENCHMARKS, "plot"])
    assert {"overhead", "llm", "router", "ingest"} <= set(BENCHMARKS)
    assert_one_line_error(result, 2, "unknown benchmark 'bogus'", f"choose one of {choices}")


def test_bench_quick_and_full_exclude_each_other() -> None:
    result = runner.invoke(app, ["bench", "router", "--quick", "--full"])
    assert_one_line_error(result, 2, "--quick or --full")


def test_bench_plot_writes_into_an_untracked_folder_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("looptime")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["bench", "plot", "--latency", "0"])
    assert result.exit_code == 0, result.output
    out = (tmp_path / "kagura-bench-out").resolve()
    assert sorted(p.name for p in out.iterdir()) == ["rpm-budget.png", "scaling.png"]
    assert f"wrote {out / 'scaling.png'}" in result.output
    assert not (tmp_path / "docs").exists()
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text(encoding="utf-8").split()
    assert "kagura-bench-out/" in ignored


def test_demo_missing_corpus_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    result = runner.invoke(app, ["demo", "--corpus", str(missing)])
    line = assert_one_line_error(result, 2, f"--corpus {missing} is not a directory")
    assert "pass --corpus" not in line


# -- the error boundary --------------------------------------------------------------------------------


def test_as_flags_rewrites_python_parameter_names() -> None:
    message = (
        "no API key: set KAGURA_LLM_API_KEY, or LLMConfig(api_key=...), or point "
        "LLMConfig(base_url=...) at a server; lower threshold=, or set fallback=; LLMConfig.model is empty; "
        "no Gemini API key: set GEMINI_API_KEY or LLMConfig(gemini_api_key=...)"
    )
    assert as_flags(message) == (
        "no API key: set KAGURA_LLM_API_KEY, or --api-key, or point --base-url at a server; "
        "lower --threshold, or set --fallback; --model is empty; no Gemini API key: set GEMINI_API_KEY"
    )
    assert as_flags("unknown file_type 'x'; top_k must be >= 1") == "unknown --type 'x'; --top-k must be >= 1"
    untouched = "the model_name is x; fallback_agent=3; my_threshold= 2; a top_kid"
    assert as_flags(untouched) == untouched


def test_redact_hides_given_and_environment_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret-value")
    assert redact("bad key sk-flag-secret and sk-env-secret-value", "sk-flag-secret") == "bad key *** and ***"
    assert redact("nothing to hide", None, "") == "nothing to hide"


# -- --api-key on ingest and ask -------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "auth.md").write_text("# Auth\n\nUsers log in with a password and get a token.", encoding="utf-8")
    return root


@pytest.fixture
def no_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_MODEL", "KAGURA_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_search_unknown_type_names_the_flag(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    assert runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json"]).exit_code == 0
    result = runner.invoke(app, ["search", "x", "--store", store, "--type", "spreadsheet"])
    line = assert_one_line_error(result, 2, "unknown --type 'spreadsheet'")
    assert "file_type" not in line


def test_ask_without_a_key_names_the_flag(corpus: Path, tmp_path: Path, no_llm_env: None) -> None:
    store = str(tmp_path / "s.db")
    assert runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json"]).exit_code == 0
    result = runner.invoke(app, ["ask", "How do users log in?", "--store", store, "--model", "gpt-4o-mini"])
    line = assert_one_line_error(result, 1, "no API key", "--api-key", "--base-url")
    assert "LLMConfig(" not in line


async def test_ask_and_ingest_take_an_api_key_and_never_echo_it(
    corpus: Path, tmp_path: Path, no_llm_env: None
) -> None:
    secret = "sk-live-0123456789abcdef"
    store = str(tmp_path / "s.db")
    async with FakeLLMServer(responder=lambda m: "Use a password [1].") as server:
        flags = ["--base-url", server.base_url, "--model", "fake", "--api-key", secret]
        ingest = await asyncio.to_thread(
            kagura, "ingest", str(corpus), "--store", store, "--json", *flags, cwd=tmp_path
        )
        assert ingest.returncode == 0, ingest.stderr
        assert json.loads(ingest.stdout)["failed"] == []
        answered = await asyncio.to_thread(
            kagura, "ask", "How to log in?", "--store", store, *flags, cwd=tmp_path
        )
        assert answered.returncode == 0, answered.stderr
        assert "Use a password [1]." in answered.stdout
        assert server.stats.chat_requests == 1
        # the server rejects the key and quotes it back, as real providers do: the key must not reach the user
        server.fail_next(401, body=f"Incorrect API key provided: {secret}.")
        rejected = await asyncio.to_thread(
            kagura, "ask", "How to log in?", "--store", store, *flags, cwd=tmp_path
        )
    output = rejected.stdout + rejected.stderr
    assert rejected.returncode == 1
    assert "Traceback" not in output
    assert secret not in output and secret[:8] not in output
    [line] = [line for line in rejected.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ") and "--api-key" in line
    assert secret not in ingest.stdout + ingest.stderr + answered.stdout + answered.stderr
