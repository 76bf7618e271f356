"""Files named on the command line are read with a size bound, and special files are refused without
waiting on them (issue 19 §5): ``kagura route hi --agents /dev/zero`` read until the kernel killed it at
23.9 GB, and ``--agents FIFO`` blocked forever."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from kagura.cli._files import read_user_file, read_user_text

SRC = str(Path(__file__).resolve().parents[2] / "src")
# the child's address space is capped: a command that reads /dev/zero whole dies at the cap instead of
# taking the machine down (and the test fails on its exit code)
_CAPPED = "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "


def _route(*args: str) -> subprocess.CompletedProcess[str]:
    """``kagura route`` in a child process; one still running after a generous grace period is killed and
    the test fails (a regression fails instead of hanging the suite)."""
    code = _CAPPED + "from kagura.cli._entry import main; sys.argv = ['kagura', *sys.argv[1:]]; main()"
    try:
        return subprocess.run(
            [sys.executable, "-c", code, "route", "hi", "--strategy", "intent", *args],
            env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"kagura route {' '.join(args)} blocked")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_agents_from_an_endless_device_is_refused_at_once() -> None:
    out = _route("--agents", "/dev/zero")
    assert out.returncode == 2, out.stderr[-2000:]
    assert (
        out.stderr.strip()
        == "error: --agents: cannot read /dev/zero: not a regular file (FIFO, socket or device); not read"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_agents_from_a_fifo_nobody_writes_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "agents.json"
    os.mkfifo(fifo)
    out = _route("--agents", str(fifo))
    assert out.returncode == 2, out.stderr[-2000:]
    assert "not a regular file" in out.stderr and "Traceback" not in out.stderr


def test_an_oversized_agents_file_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "agents.json"
    with big.open("wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of zeros, no disk used
    out = _route("--agents", str(big))
    assert out.returncode == 2
    assert "larger than 4 MiB; not read" in out.stderr


def test_a_valid_agents_file_still_routes(tmp_path: Path) -> None:
    agents = tmp_path / "agents.json"
    agents.write_text(json.dumps({"greeter": {"intents": ["hi", "hello"]}}), "utf-8")
    out = _route("--agents", str(agents), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["agent"] == "greeter"


def test_read_user_file_refuses_each_kind_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok.txt").write_bytes(b"12345")
    assert read_user_file(tmp_path / "ok.txt", "--x", limit=5) == b"12345"
    assert read_user_text(tmp_path / "ok.txt", "--x") == "12345"
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    cases = {
        tmp_path / "missing": "no such file",
        tmp_path: "is a directory",
        tmp_path / "ok.txt": "larger than 4 bytes",
        "": "no file name given",
    }
    for path, reason in cases.items():
        with pytest.raises(typer.Exit) as info:
            read_user_file(path, "--x", limit=4)
        assert info.value.exit_code == 2
        assert reason in capsys.readouterr().err
    with pytest.raises(typer.Exit):
        read_user_text(tmp_path / "latin1.txt", "--x")
    assert "not UTF-8 text (byte 3)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="limit"):
        read_user_file(tmp_path / "ok.txt", "--x", limit=-1)
