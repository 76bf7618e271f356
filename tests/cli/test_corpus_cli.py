"""``kagura ingest --embedder openai[:MODEL]`` on the fake server, ``search/ask --mode``, embedder mixing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_ingest_cli import server_in_thread
from typer.testing import CliRunner

from kagura.cli.app import app

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "Caddyfile").write_text(
        "example.com {\n    encode gzip\n    reverse_proxy app:8000\n}\n", encoding="utf-8"
    )
    (root / "deploy" / "Dockerfile").write_text(
        "FROM python:3.12-slim\nHEALTHCHECK CMD curl -f http://localhost:8000/healthz || exit 1\n",
        encoding="utf-8",
    )
    (root / "notes.md").write_text("# Garden\n\nTomatoes need sun, water and rich soil.", encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_MODEL", "KAGURA_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_ingest_with_remote_embedder_then_search_every_mode(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    with server_in_thread(embedding_dim=32) as server:
        remote = ["--embedder", "openai:fake-embed", "--base-url", server.base_url]
        result = runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json", *remote])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert len(report["indexed"]) == 3 and report["chunks_embedded"] == 3
        assert server.stats.embedding_requests >= 1
        assert {body["model"] for body in server.received} == {"fake-embed"}

        for mode in ("hybrid", "vector", "keyword"):
            out = runner.invoke(
                app, ["search", "reverse_proxy", "--store", store, "--json", "--mode", mode, *remote]
            )
            assert out.exit_code == 0, out.output
            hits = json.loads(out.stdout)
            assert hits and set(hits[0]) >= {"relpath", "path", "text", "score", "section"}
            if mode != "vector":  # the fake server's vectors carry no meaning; keywords do
                assert hits[0]["relpath"] == "deploy/Caddyfile"

        # the store was built by the remote embedder: the local one, asked for, is refused with a way out
        refused = runner.invoke(
            app, ["search", "healthz", "--store", store, "--mode", "vector", "--embedder", "local"]
        )
        assert refused.exit_code == 1
        assert "fake-embed" in refused.output and "--embedder" in refused.output
        assert "Traceback" not in refused.output


def test_remote_embedder_retries_a_rate_limited_batch(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    with server_in_thread(embedding_dim=16) as server:
        server.fail_next(429, retry_after=0.01)
        result = runner.invoke(
            app,
            ["ingest", str(corpus), "--store", store, "--json", "--embedder", "openai:e", "--base-url",
             server.base_url, "--embed-rpm", "600"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["failed"] == []
        assert server.stats.faults_injected == 1 and server.stats.embedding_requests >= 2


def test_bad_mode_and_embedder_are_user_errors(corpus: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    assert runner.invoke(app, ["ingest", str(corpus), "--store", store, "--json"]).exit_code == 0
    bad_mode = runner.invoke(app, ["search", "x", "--store", store, "--mode", "fuzzy"])
    assert bad_mode.exit_code == 2 and "hybrid, vector, keyword" in bad_mode.output
    bad_embedder = runner.invoke(app, ["ingest", str(corpus), "--store", store, "--embedder", "cohere"])
    assert bad_embedder.exit_code == 2 and "openai[:MODEL]" in bad_embedder.output
    keyword = runner.invoke(
        app, ["search", "HEALTHCHECK healthz", "--store", store, "--json", "--mode", "keyword"]
    )
    assert json.loads(keyword.stdout)[0]["relpath"] == "deploy/Dockerfile"
