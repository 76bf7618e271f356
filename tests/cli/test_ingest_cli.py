"""``kagura ingest`` / ``search`` / ``ask`` / ``demo`` through typer's runner, on real files and stores."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kagura.cli.app import app
from kagura.testing import FakeLLMServer

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "auth.md").write_text(
        "# Authentication\n\nUsers log in with a password; the server issues a session token.",
        encoding="utf-8",
    )
    (root / "garden.txt").write_text("Tomatoes need sun, water and rich soil to grow.", encoding="utf-8")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not a pdf")
    return root


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_ingest_json_then_incremental_rerun(corpus: Path, tmp_path: Path, engine: str) -> None:
    store = tmp_path / "s.db"
    flags = ["--engine", engine]
    result = runner.invoke(app, ["ingest", str(corpus), "--store", str(store), "--json", *flags])
    assert result.exit_code == 1, result.output  # some files failed (broken.pdf): exit 1, the rest indexed
    report = json.loads(result.stdout)
    assert sorted(Path(p).name for p in report["indexed"]) == ["auth.md", "garden.txt"]
    assert [Path(f["path"]).name for f in report["failed"]] == ["broken.pdf"]
    assert report["failed"][0]["reason"]
    (corpus / "garden.txt").unlink()
    again = runner.invoke(app, ["ingest", str(corpus), "--store", str(store), "--json", *flags])
    rerun = json.loads(again.stdout)
    assert rerun["indexed"] == [] and len(rerun["unchanged"]) == 1
    assert [Path(p).name for p in rerun["pruned"]] == ["garden.txt"]


def test_ingest_engine_errors_are_messages_not_tracebacks(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    bogus = runner.invoke(app, ["ingest", str(corpus), "--store", store, "--engine", "bogus"])
    assert bogus.exit_code == 2 and "unknown engine 'bogus'" in bogus.output
    assert "Traceback" not in bogus.output
    stray = runner.invoke(app, ["ingest", str(corpus), "--store", store, "--ray-address", "auto"])
    assert stray.exit_code == 2 and "--engine ray" in stray.output


def test_ingest_prints_summary_and_failures(corpus: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ingest", str(corpus), "--store", str(tmp_path / "s.db"), "--max-concurrent", "2"]
    )
    assert result.exit_code == 1, result.output  # broken.pdf failed
    assert "indexed" in result.output and "unchanged" in result.output
    assert "broken.pdf" in result.output  # failures are listed with their reason


def test_search_json_and_type_filter(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json"])
    result = runner.invoke(
        app, ["search", "how do users log in?", "--store", store, "--json", "--top-k", "1"]
    )
    assert result.exit_code == 0, result.output
    [hit] = json.loads(result.stdout)
    assert hit["relpath"] == "auth.md" and hit["score"] > 0 and hit["file_type"] == "markdown"
    typed = json.loads(
        runner.invoke(app, ["search", "log in", "--store", store, "--json", "--type", "text"]).output
    )
    assert {h["relpath"] for h in typed} == {"garden.txt"}
    plain = runner.invoke(app, ["search", "tomatoes", "--store", store])
    assert "garden.txt" in plain.output


def test_search_without_store_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "anything", "--store", str(tmp_path / "missing.db")])
    assert result.exit_code == 2
    assert "kagura ingest" in result.output
    assert not (tmp_path / "missing.db").exists()


def test_search_unknown_type_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json"])
    result = runner.invoke(app, ["search", "x", "--store", store, "--type", "spreadsheet"])
    assert result.exit_code == 2 and "unknown --type" in result.output


def test_ask_offline_prints_passages_with_sources(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json"])
    result = runner.invoke(app, ["ask", "How do users authenticate?", "--store", store])
    assert result.exit_code == 0, result.output
    assert "No LLM configured" in result.output
    assert result.output.index("auth.md") < result.output.index("garden.txt")


def test_demo_runs_offline_on_a_corpus(corpus: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--corpus", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "indexed" in result.output and "search" in result.output
    assert "auth.md" in result.output


def test_corrupt_store_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    store.write_bytes(b"not a database at all" * 50)
    result = runner.invoke(app, ["ingest", str(corpus), "--store", str(store)])
    assert result.exit_code == 1
    assert "error:" in result.output and "database" in result.output


@contextlib.contextmanager
def server_in_thread(**kwargs: object) -> Iterator[FakeLLMServer]:
    """A FakeLLMServer on its own event loop in a thread, for commands that run their own loop."""
    loop = asyncio.new_event_loop()
    server = FakeLLMServer(**kwargs)  # type: ignore[arg-type]
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def test_ask_with_llm_answers_with_sources(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = str(tmp_path / "s.db")
    runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json"])
    monkeypatch.setenv("KAGURA_LLM_API_KEY", "test")
    with server_in_thread(responder=lambda m: "Log in with a password to get a session token [1].") as server:
        result = runner.invoke(
            app,
            [
                "ask",
                "How do users log in?",
                "--store",
                store,
                "--base-url",
                server.base_url,
                "--model",
                "fake",
            ],
        )
        assert result.exit_code == 0, result.output
        assert server.stats.chat_requests == 1
        assert "auth.md" in str(server.received[0]["messages"])
    assert "Log in with a password to get a session token [1]." in result.output
    assert "Sources" in result.output and "auth.md" in result.output
