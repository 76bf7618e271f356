"""``kagura ingest --engine ray`` in a real subprocess that starts its own local Ray cluster (issue 20 §2):
when the command exits no Ray process is left behind (the dashboard and runtime-env agents outlived it by
1 to 3 minutes), Ray's warnings stay off the user's stderr, and Ctrl-C keeps every file already embedded
(on SQLite it kept none until a whole batch had finished) so that a rerun does only the rest."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest
from _stores import stored_relpaths
from PIL import Image

from kagura.testing import FakeLLMServer

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

SRC = str(Path(__file__).resolve().parents[2] / "src")
MARK = "KAGURA_TEST_PROCESS_MARK"


def _env(mark: str, **extra: str) -> dict[str, str]:
    """This test's environment for the command, marked: every process it starts inherits ``mark``. No
    RAY_ADDRESS: the command starts a cluster of its own."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "PYTHONPATH": SRC, MARK: mark, **extra}


def _left_behind(mark: str) -> list[str]:
    """The processes still running (not zombies) that were started under ``mark``."""
    found = []
    for process in psutil.process_iter(["pid", "name"]):
        try:
            if process.environ().get(MARK) == mark and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{process.pid} {' '.join(process.cmdline())[:80]}")
        except (psutil.Error, OSError):
            continue
    return found


async def _ingest(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kagura.cli", "ingest", *args, "--json", "--progress-every", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def test_a_ray_ingest_leaves_no_process_and_no_ray_warning_behind(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"n{i}.md").write_text(f"# Note {i}\n\nabout lighthouses {i}", encoding="utf-8")
    mark = uuid.uuid4().hex
    proc = await _ingest(str(corpus), "--store", str(tmp_path / "s.db"), "--engine", "ray", env=_env(mark))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 600)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    left = _left_behind(mark)  # at once: the command's exit is the moment the user sees
    assert proc.returncode == 0, err.decode()[-3000:]
    assert len(json.loads(out)["indexed"]) == 3
    assert left == []
    lines = err.decode().splitlines()
    assert lines and all(line.startswith("ingest: ") for line in lines), lines  # progress only


async def test_ctrl_c_on_ray_keeps_the_files_embedded_and_a_rerun_does_the_rest(tmp_path: Path) -> None:
    # Every batch holds an image whose description never comes, so no batch ever finishes: the two notes
    # are embedded on the workers, and must reach the store before the batch does.
    corpus = tmp_path / "c"
    corpus.mkdir()
    notes = ["a.md", "b.md"]
    for name in notes:
        (corpus / name).write_text(f"# {name}\n\nfacts about lighthouses in {name}", encoding="utf-8")
    cpus = max(os.cpu_count() or 2, 2)
    pictures = [f"p{i:03}.png" for i in range(8 * cpus + 8)]  # batches of 3 or more: each has an image
    for i, name in enumerate(pictures):
        Image.new("RGB", (9, 9), (i % 256, 30, 200)).save(corpus / name)
    store = tmp_path / "s.db"
    mark = uuid.uuid4().hex
    async with FakeLLMServer() as server:
        server.hang_next(10**6)  # every request, retries included, until the server closes
        env = _env(mark, KAGURA_LLM_BASE_URL=server.base_url, KAGURA_LLM_MODEL="fake", KAGURA_LLM_API_KEY="t")
        proc = await _ingest(str(corpus), "--store", str(store), "--engine", "ray", env=env)
        try:
            for _ in range(1200):  # until both notes are stored (the images hang): at most 10 minutes
                if stored_relpaths(store) == notes or proc.returncode is not None:
                    break
                await asyncio.sleep(0.5)
            assert stored_relpaths(store) == notes, "the embedded notes never reached the store"
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 120)  # a hang fails here
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        left = _left_behind(mark)
    assert proc.returncode == 130, err.decode()[-3000:]
    report = json.loads(out)
    assert report["interrupted"] is True
    assert {Path(p).name for p in report["indexed"]} <= set(notes)  # what it reports indexed is stored
    assert stored_relpaths(store) == notes  # the embedded files stayed
    assert left == []
    async with FakeLLMServer(responder=lambda m: "a small blue square") as server:
        env = _env(mark, KAGURA_LLM_BASE_URL=server.base_url, KAGURA_LLM_MODEL="fake", KAGURA_LLM_API_KEY="t")
        rerun = await _ingest(str(corpus), "--store", str(store), env=env)
        out, err = await asyncio.wait_for(rerun.communicate(), 600)
    assert rerun.returncode == 0, err.decode()[-3000:]
    again = json.loads(out)
    assert sorted(Path(p).name for p in again["unchanged"]) == notes  # not processed again
    assert sorted(Path(p).name for p in again["indexed"]) == pictures  # only the rest
    assert stored_relpaths(store) == sorted(notes + pictures)
