"""``kagura search`` output: the best passage of each file by default (one copy of a page kept as both
Markdown and HTML), every passage with ``--all-chunks``, readable scores."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagura.cli.app import app

runner = CliRunner()


def _step(i: int) -> str:
    return f"Users log in with a password and a one-time code, step {i}. "


_SECTIONS = "\n\n".join(f"## Login step {i}\n\n{_step(i) * 12}" for i in range(6))


@pytest.fixture
def store(tmp_path: Path) -> str:
    root = tmp_path / "docs"
    (root / "html").mkdir(parents=True)
    (root / "login.md").write_text(f"# Login\n\n{_SECTIONS}\n", encoding="utf-8")
    body = "".join(f"<h2>Login step {i}</h2><p>{_step(i) * 12}</p>" for i in range(6))
    (root / "html" / "login.html").write_text(
        f"<html><head><title>Login</title></head><body><h1>Login</h1>{body}</body></html>", encoding="utf-8"
    )
    (root / "garden.txt").write_text("Tomatoes need sun, water and rich soil to grow.", encoding="utf-8")
    path = str(tmp_path / "s.db")
    result = runner.invoke(app, ["ingest", str(root), "--store", path, "--json"])
    assert result.exit_code == 0, result.output
    return path


def test_search_shows_each_file_once_unless_all_chunks(store: str) -> None:
    query = ["search", "how do users log in with a one-time code?", "--store", store, "--json"]
    grouped = json.loads(runner.invoke(app, query).stdout)
    every = json.loads(runner.invoke(app, [*query, "--all-chunks"]).stdout)
    assert [h["relpath"] for h in grouped][:1] in (["login.md"], ["html/login.html"])
    assert len({Path(h["relpath"]).stem for h in grouped}) == len(grouped) == 2  # login page once, garden
    assert len(every) == 5 and len({h["relpath"] for h in every}) < 5  # the chunks repeat the page
    assert all(0 < h["score"] <= 1 for h in grouped + every)


def test_search_prints_scores_from_0_to_1(store: str) -> None:
    result = runner.invoke(app, ["search", "tomatoes soil", "--store", store])
    assert result.exit_code == 0, result.output
    first = re.search(r"^1\. (\d+\.\d+) ", result.output, flags=re.MULTILINE)
    assert first is not None and 0.5 <= float(first.group(1)) <= 1.0, result.output  # was 0.033 (RRF)
    assert "garden.txt" in result.output


def test_search_on_an_empty_postgres_database_creates_nothing(postgres_url: str) -> None:
    """As with a missing SQLite file: exit 2 with the command to run first, and the database stays empty
    (no kagura table, no pgvector extension)."""
    import psycopg

    result = runner.invoke(app, ["search", "anything", "--store", postgres_url, "--mode", "keyword"])
    assert result.exit_code == 2, result.output
    assert "No store at" in result.output and "kagura ingest" in result.output
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        extensions = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert tables == (0,) and extensions == (0,)


def test_a_known_model_name_on_another_server_learns_its_dimension_and_plain_search_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``openai:text-embedding-3-small`` served with 64-dim vectors (the fake server) is indexed at 64 dims;
    then ``kagura search`` without ``--embedder`` uses the embedder the store records, not the local one."""
    from test_ingest_cli import server_in_thread

    for name in ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_MODEL", "KAGURA_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "docs"
    root.mkdir()
    (root / "Caddyfile").write_text("example.com {\n    reverse_proxy app:8000\n}\n", encoding="utf-8")
    (root / "notes.md").write_text("# Notes\n\nTomatoes need sun.\n", encoding="utf-8")
    store = str(tmp_path / "s.db")
    with server_in_thread(embedding_dim=64) as server:
        url = ["--base-url", server.base_url]
        model = ["--embedder", "openai:text-embedding-3-small"]
        result = runner.invoke(app, ["ingest", str(root), "--store", store, "--json", *model, *url])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["failed"] == []
        before = server.stats.embedding_requests
        plain = runner.invoke(app, ["search", "reverse_proxy", "--store", store, "--json", *url])
        assert plain.exit_code == 0, plain.output
        assert json.loads(plain.stdout)[0]["relpath"] == "Caddyfile"
        assert server.stats.embedding_requests == before + 1  # the query was embedded by the server
        assert {body["model"] for body in server.received} == {"text-embedding-3-small"}


_LOADED = (
    "import runpy, sys\n"
    "sys.argv = ['kagura', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('kagura.cli', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    assert not exc.code, exc.code\n"
    "sys.stderr.write(' '.join(sorted(sys.modules)))\n"
)
# What a search never needs: the ingest pipeline's layers (LLM calls, the scheduler, the file loaders),
# the other commands' modules (ingest and ask, benchmarks, jobs, routing) and what only they use (progress
# bars, tables), the numpy encoder (the ONNX backend runs), and typer's pydantic validators
# (kagura.cli._coercion handles plain values).
_NOT_FOR_SEARCH = (
    "kagura.core.llm", "kagura.core.parallel", "kagura.loaders", "kagura.bench", "kagura.jobs",
    "kagura.routing", "kagura.cli.bench", "kagura.cli.run", "kagura.cli.ingest", "openai", "pydantic",
    "rich.progress", "rich.table", "kagura.core.memory.embedders._bert",
)  # fmt: skip


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_a_search_process_loads_only_what_searching_needs(store: str, mode: str) -> None:
    """``kagura search`` in its own process (what users run) imports the store, the search and (except for
    ``--mode keyword``) the embedder: not the ingest stack nor every other command (a third of its time
    went to those imports), nor pydantic (typer's validators, about 0.1 s)."""
    argv = [sys.executable, "-c", _LOADED, "search", "tomatoes soil", "--store", store, "--mode", mode]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "garden.txt" in done.stdout
    loaded = set(done.stderr.split())
    assert "kagura.core.memory" in loaded
    assert not [m for m in loaded if m.split(".")[0] in _NOT_FOR_SEARCH or m.startswith(_NOT_FOR_SEARCH)]
    assert ("onnxruntime" in loaded) == (mode == "hybrid")


def test_a_json_search_process_leaves_rich_unimported(store: str) -> None:
    """``--json`` output (what scripts read) is printed without rich's console (about 25 ms of imports)."""
    argv = [sys.executable, "-c", _LOADED, "search", "tomatoes soil", "--store", store, "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)[0]["relpath"] == "garden.txt"
    loaded = set(done.stderr.split())
    assert "rich.console" not in loaded and "rich.text" not in loaded
