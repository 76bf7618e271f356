"""``--json`` keeps stdout for the JSON alone (issue 19 §5): after a Ray worker died, ``kagura ingest ...
--engine ray --json`` printed Ray's colored worker-death lines to stdout before the JSON, which then no
longer parsed. Ray prints them from its driver's error-listener thread to ``sys.stdout``, whatever
``log_to_driver`` says; inside :func:`json_stdout` they reach stderr."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kagura.cli._stdout import json_stdout
from kagura.cli.app import app


def test_a_dead_ray_workers_lines_go_to_stderr_not_into_the_json(
    ray_cluster: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    ray = ray_cluster

    @ray.remote(max_retries=0)
    def die() -> None:
        os._exit(1)

    seen_out, seen_err = "", ""
    with json_stdout() as stdout:
        with pytest.raises(ray.exceptions.RayError):
            ray.get(die.remote())
        deadline = time.monotonic() + 60  # generous: Ray's listener prints within a second or two
        while "worker died" not in (seen_out + seen_err).lower() and time.monotonic() < deadline:
            time.sleep(0.2)
            captured = capfd.readouterr()
            seen_out, seen_err = seen_out + captured.out, seen_err + captured.err
        print(json.dumps({"ok": True}), file=stdout)
    captured = capfd.readouterr()
    seen_out, seen_err = seen_out + captured.out, seen_err + captured.err
    assert "worker died" in seen_err.lower(), (seen_out, seen_err)
    assert json.loads(seen_out) == {"ok": True}


def test_json_stdout_disabled_changes_nothing() -> None:
    import sys

    with json_stdout(False) as stdout:
        assert stdout is sys.stdout


def test_ingest_json_on_ray_is_json_alone(ray_cluster: Any, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nsome words", "utf-8")
    args = ["ingest", str(tmp_path / "docs"), "--store", str(tmp_path / "s.db"), "--offline", "--json"]
    result = CliRunner().invoke(app, [*args, "--engine", "ray"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["indexed"]
