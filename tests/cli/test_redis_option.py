"""An unusable Redis for the shared budget stops ``kagura ingest``/``ask`` before any work, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kagura.testing import RedisServer


def _ingest(tmp_path: Path, redis: str) -> subprocess.CompletedProcess[str]:
    corpus = tmp_path / "docs"
    corpus.mkdir(exist_ok=True)
    (corpus / "a.md").write_text("# A\n\nhello\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("KAGURA_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "kagura.cli", "ingest", str(corpus), "--store", str(tmp_path / "s.db"),
         "--base-url", "http://127.0.0.1:9/v1", "--model", "fake", "--api-key", "k", "--redis", redis],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def _require_password(server: RedisServer, password: str) -> None:
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        client.config_set("requirepass", password)
    finally:
        client.close()


@pytest.mark.parametrize("case", ["nothing listening", "wrong password", "unparsable"])
def test_an_unusable_redis_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, own_redis_server: RedisServer, case: str
) -> None:
    _require_password(own_redis_server, "the-right-one")
    url = {
        "nothing listening": "redis://127.0.0.1:9/0",
        "wrong password": own_redis_server.url.replace("redis://", "redis://:not-the-password@"),
        "unparsable": "redis://127.0.0.1:notaport/0",
    }[case]
    done = _ingest(tmp_path, url)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Redis" in lines[0], lines
    assert "not-the-password" not in done.stderr
    assert not (tmp_path / "s.db").exists()  # stopped before any work
