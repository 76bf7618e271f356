"""``--store postgresql://...`` on ingest/search/ask, and ``kagura store migrate`` both ways."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kagura.cli.app import app

runner = CliRunner()


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "auth.md").write_text(
        "# Authentication\n\nUsers log in with a password and get a token.", "utf-8"
    )
    (root / "garden.txt").write_text("Tomatoes need sun, water and rich soil to grow.", "utf-8")
    (root / "deploy.yaml").write_text("healthcheck: curl http://localhost:8000/healthz\n", "utf-8")
    return root


def _search(store: str, query: str) -> list[tuple[str, str]]:
    result = runner.invoke(app, ["search", query, "--store", store, "--json", "--top-k", "3"])
    assert result.exit_code == 0, result.output
    return [(h["relpath"], h["text"]) for h in json.loads(result.output)]


def test_ingest_search_and_migrate_between_sqlite_and_postgres(tmp_path: Path, postgres_url: str) -> None:
    corpus = _corpus(tmp_path)
    result = runner.invoke(app, ["ingest", str(corpus), "--store", postgres_url, "--offline", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["indexed"]) == 3
    again = json.loads(runner.invoke(app, ["ingest", str(corpus), "--store", postgres_url, "--json"]).output)
    assert again["indexed"] == [] and len(again["unchanged"]) == 3  # the manifest lives in PostgreSQL

    sqlite = str(tmp_path / "copy.db")
    moved = runner.invoke(app, ["store", "migrate", postgres_url, sqlite, "--json"])
    assert moved.exit_code == 0, moved.output
    counts = json.loads(moved.output)
    assert counts["copied"] == 3 and counts["source"] == counts["target"]
    for query in ("how do users log in?", "healthz", "growing vegetables"):
        assert _search(sqlite, query) == _search(postgres_url, query)
    # the SQLite copy is incremental against the same tree: nothing to re-index
    rerun = json.loads(runner.invoke(app, ["ingest", str(corpus), "--store", sqlite, "--json"]).output)
    assert rerun["indexed"] == [] and len(rerun["unchanged"]) == 3


def test_a_bad_url_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://kagura:hunter2-secret@127.0.0.1:1/db"
    for args in (["search", "x", "--store", url], ["store", "migrate", url, str(tmp_path / "a.db")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "hunter2-secret" not in result.output and "Traceback" not in result.output
        assert "kagura:***@127.0.0.1:1" in result.output


def test_migrate_refuses_a_missing_source_and_the_same_store(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["store", "migrate", str(tmp_path / "none.db"), str(tmp_path / "b.db")])
    assert missing.exit_code == 2 and "No store at" in missing.output
    same = runner.invoke(app, ["store", "migrate", str(tmp_path / "a.db"), str(tmp_path / "a.db")])
    assert same.exit_code == 2


def test_a_search_path_that_hides_the_store_names_the_cause_at_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """``options=-c search_path=nope`` in the URL: the pool used to retry in the background and say only
    "pool initialization incomplete after 30 sec"; now the first connection's error names the schema."""
    corpus = _corpus(tmp_path)
    made = runner.invoke(app, ["ingest", str(corpus), "--store", postgres_url, "--offline", "--json"])
    assert made.exit_code == 0, made.output
    hidden = postgres_url + ("&" if "?" in postgres_url else "?") + "options=-c%20search_path%3Dnope"
    for argv in (["ingest", str(corpus)], ["search", "tomatoes"]):
        result = runner.invoke(app, [*argv, "--store", hidden])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and 'in schema "public"' in lines[0], result.output
        assert 'search_path ("nope")' in lines[0] and "incomplete" not in lines[0]
        assert "Traceback" not in result.output
