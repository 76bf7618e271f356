"""``kagura ingest`` in a real subprocess: Ctrl-C ends it with a partial summary and keeps what was
committed; with output that is not a terminal it prints progress lines to stderr (issue 10, items 3, 6, 9)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from _stores import stored_relpaths
from PIL import Image
from typer.testing import CliRunner

from kagura.cli._progress import ProgressLines
from kagura.cli.app import app
from kagura.testing import FakeLLMServer

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _corpus(root: Path, texts: int) -> Path:
    root.mkdir()
    for i in range(texts):
        (root / f"note{i}.md").write_text(
            f"# Note {i}\n\nfact number {i} about lighthouses", encoding="utf-8"
        )
    Image.new("RGB", (9, 9), (200, 30, 30)).save(root / "photo.png")
    return root


async def test_sigint_while_blocked_on_the_llm_ends_with_a_partial_summary(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "c", 3)
    store = tmp_path / "s.db"
    async with FakeLLMServer() as server:
        server.hang_next(1)  # the photo's description never comes back: the run is blocked on it
        env = {**os.environ, "PYTHONPATH": SRC, "KAGURA_LLM_BASE_URL": server.base_url,
               "KAGURA_LLM_MODEL": "fake", "KAGURA_LLM_API_KEY": "test"}  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kagura.cli", "ingest", str(corpus), "--store", str(store), "--json",
            "--progress-every", "0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            await asyncio.wait_for(server.wait_for_requests(1), 300)  # blocked on the LLM now
            assert proc.stderr is not None
            seen = b""
            while not seen.startswith(b"ingest: 3/4 files"):  # the text files are committed: the marker
                seen = await asyncio.wait_for(proc.stderr.readline(), 300)
                assert seen, "the ingest ended early"
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 60)  # a hang fails here
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 130, err.decode()
    report = json.loads(out)
    assert report["interrupted"] is True and report["completed"] is False
    assert sorted(Path(p).name for p in report["indexed"]) == ["note0.md", "note1.md", "note2.md"]
    assert b"interrupted" in err and b"Traceback" not in err
    assert stored_relpaths(store) == ["note0.md", "note1.md", "note2.md"]


def test_progress_lines_on_stderr_when_not_a_terminal(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "c", 4)
    runner = CliRunner()
    result = runner.invoke(
        app, ["ingest", str(corpus), "--store", str(tmp_path / "s.db"), "--progress-every", "0", "--offline"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("ingest: ")]
    assert len(lines) >= 5  # one per file settled (interval 0), plus the final line
    assert lines[-1].startswith("ingest: 5/5 files (100%), 0 failed") and "files/s" in lines[-1]
    assert "ETA" in lines[0]


def test_progress_lines_are_spaced_by_the_interval() -> None:
    now = [0.0]
    out = io.StringIO()
    lines = ProgressLines(out, 10.0, clock=lambda: now[0])
    for done in range(1, 101):
        now[0] = done * 0.5  # two files a second
        lines(done, 100, done // 50)
    printed = out.getvalue().splitlines()
    assert len(printed) == 5  # at 10 s, 20 s, ... 50 s
    lines.finish()
    assert len(out.getvalue().splitlines()) == 6  # the last line, as lines were printed
    quiet = io.StringIO()
    short = ProgressLines(quiet, 10.0, clock=lambda: 0.0)
    short(1, 1, 0)
    short.finish()
    assert quiet.getvalue() == ""  # a run shorter than the interval prints only its summary
    assert printed[0] == "ingest: 20/100 files (20%), 0 failed, 2.0 files/s, ETA 40s, elapsed 10s"
    with pytest.raises(ValueError):
        ProgressLines(out, -1)


def test_redescribe_flag_is_passed_to_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGURA_LLM_API_KEY", "test")
    corpus = _corpus(tmp_path / "c", 0)
    store = tmp_path / "s.db"

    async def scenario() -> list[int]:
        calls = []
        async with FakeLLMServer(responder=lambda m: "a red square") as server:
            base = ["ingest", str(corpus), "--store", str(store), "--json", "--base-url", server.base_url]
            for extra in (["--model", "m1"], ["--model", "m2"], ["--model", "m2", "--redescribe"]):
                result = await asyncio.to_thread(CliRunner().invoke, app, base + extra)
                assert result.exit_code == 0, result.output
                report = json.loads(result.stdout)
                calls.append(report["llm_calls"])
        return calls

    assert asyncio.run(scenario()) == [1, 0, 1]


async def _interrupt_after(
    corpus: Path, store: Path, base_url: str, files: int, pause: float
) -> dict[str, Any]:
    """``kagura ingest`` (remote embeddings on the fake server: the store is most of the work), SIGINT
    ``pause`` seconds after the first progress line past a third of the files; its ``--json`` report."""
    env = {**os.environ, "PYTHONPATH": SRC, "KAGURA_LLM_API_KEY": "test"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kagura.cli", "ingest", str(corpus), "--store", str(store), "--json",
        "--embedder", "openai:fake", "--base-url", base_url, "--progress-every", "0.02",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        while True:
            line = await asyncio.wait_for(proc.stderr.readline(), 300)
            assert line, "the ingest ended before it could be interrupted"
            if line.startswith(b"ingest: ") and int(line.split()[1].split(b"/")[0]) > files // 3:
                break
        await asyncio.sleep(pause)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err.decode()[-2000:]
    report: dict[str, Any] = json.loads(out)
    return report


async def test_an_interrupted_ingest_reports_exactly_what_the_store_holds(tmp_path: Path) -> None:
    """Ctrl-C while a batch of files is being stored: the files the batch committed before it stopped
    were missing from the report (18,625 indexed listed, 18,628 held). Several interrupts at different
    moments; each report lists exactly the documents the store holds."""
    files = 1200
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(files):
        (corpus / f"f{i:05d}.txt").write_text(f"fact {i} about lighthouses and ships " * 3, encoding="utf-8")
    async with FakeLLMServer() as server:
        for attempt, pause in enumerate((0.0, 0.03, 0.06, 0.09, 0.12)):
            store = tmp_path / f"s{attempt}.db"
            report = await _interrupt_after(corpus, store, server.base_url, files, pause)
            assert report["interrupted"] is True
            indexed = sorted(Path(p).name for p in report["indexed"])
            assert indexed == stored_relpaths(store), (attempt, len(indexed), len(stored_relpaths(store)))
            assert report["chunks_added"] == len(indexed)  # one chunk per file
