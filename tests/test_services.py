"""Every system program the suite or the benchmarks need is installed by the project's own scripts.

A fresh machine has none of them; a developer's machine may have them from an earlier session, which hides a
missing install step until CI runs somewhere new. These tests read the code for the programs it looks up and
check that ``scripts/ensure_services.sh`` installs each one and that every make target that needs them runs it
first; and that a missing service ends a benchmark with one line, not a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kagura.errors import ServiceUnavailableError
from kagura.testing import RedisServer

ROOT = Path(__file__).resolve().parents[1]
_WHICH = re.compile(r"""shutil\.which\(\s*["']([\w.+-]+)["']""")


def _programs_looked_up() -> set[str]:
    found: set[str] = set()
    for folder in ("src", "tests", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            found.update(_WHICH.findall(path.read_text(encoding="utf-8")))
    return found


def _installed_by_script() -> dict[str, str]:
    text = (ROOT / "scripts" / "ensure_services.sh").read_text(encoding="utf-8")
    needed = re.search(r'^NEEDED="([^"]*)"', text, re.MULTILINE)
    assert needed, "scripts/ensure_services.sh lost its NEEDED line"
    return dict(pair.split(":", 1) for pair in needed.group(1).split())


def _make_prerequisites(target: str) -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = re.search(rf"^{re.escape(target)}:(.*)$", text, re.MULTILINE)
    assert line, f"the Makefile has no {target} target"
    return line.group(1).split()


def test_every_program_the_code_looks_up_is_installed_by_the_services_script() -> None:
    looked_up = _programs_looked_up()
    assert "redis-server" in looked_up  # the scan sees the fixtures' lookups
    assert looked_up <= set(_installed_by_script()), looked_up - set(_installed_by_script())


@pytest.mark.parametrize("target", ["test", "bench", "bench-smoke"])
def test_targets_that_run_tests_or_benchmarks_install_the_services_first(target: str) -> None:
    assert "services" in _make_prerequisites(target)


def test_ci_runs_everything_through_make() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    commands = [line for line in lines if not line.startswith(("set ", "cd "))]
    assert commands and all(line.startswith("make ") for line in commands), commands
    assert "make test" in commands


def test_a_missing_redis_server_is_a_service_error_naming_the_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(ServiceUnavailableError, match=r"redis-server is not installed.*apt-get install"):
        RedisServer()


def test_a_benchmark_whose_service_is_missing_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "kagura.cli", "bench", "shared", "--quick", "--latency", "0.01"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert done.returncode == 1
    assert "shared: skipped: redis-server is not installed" in " ".join(output.split())
