"""A Ray address nothing answers at is one clear error within seconds (issue 19 §5): ``--ray-address
127.0.0.1:1`` retried for 822 s before "cannot reach", while ``auto`` says so in 2 s."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kagura.core.memory.engines.ray._address import check_reachable, host_and_port
from kagura.errors import ConfigurationError

SRC = str(Path(__file__).resolve().parents[3] / "src")


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_addresses_are_parsed_or_refused_with_the_forms_ray_takes() -> None:
    assert host_and_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert host_and_port("ray://head.internal:10001") == ("head.internal", 10001)
    assert host_and_port("[::1]:6379") == ("::1", 6379)
    assert host_and_port("auto") is None and host_and_port("local") is None
    for bad in ("not a url", "host", "host:", ":6379", "host:0", "host:70000", "host:６３７９", "host:-1"):
        with pytest.raises(ConfigurationError, match="is not 'auto', 'host:port'"):
            host_and_port(bad)


def test_check_reachable_refuses_a_closed_port_and_leaves_auto_to_ray() -> None:
    port = _closed_port()
    with pytest.raises(
        ConfigurationError, match=rf"cannot reach the Ray cluster at '127.0.0.1:{port}': .*refused"
    ):
        check_reachable(f"127.0.0.1:{port}", timeout=5)
    check_reachable(None)
    check_reachable("auto")
    with pytest.raises(ValueError, match="timeout"):
        check_reachable("auto", timeout=0)


def test_ingest_with_an_unreachable_ray_address_fails_at_once(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("hello", "utf-8")
    address = f"127.0.0.1:{_closed_port()}"
    args = ["ingest", str(tmp_path / "docs"), "--store", str(tmp_path / "s.db"), "--offline"]
    code = "import sys; from kagura.cli._entry import main; sys.argv = ['kagura', *sys.argv[1:]]; main()"
    try:  # generous: Ray's own retries took 822 s; the probe answers at once on a refused port
        out = subprocess.run(
            [sys.executable, "-c", code, *args, "--engine", "ray", "--ray-address", address],
            env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("ingest kept retrying an unreachable Ray address")
    assert out.returncode == 1, out.stderr[-2000:]
    assert f"cannot reach the Ray cluster at '{address}'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_port_of_another_service_is_not_taken_for_a_ray_cluster(redis_server: Any) -> None:
    """Ray retried a port that accepts connections but is no GCS (here: Redis) for minutes."""
    port = redis_server.url.rsplit(":", 1)[1].split("/")[0]
    with pytest.raises(ConfigurationError, match="something answers, but not a Ray cluster"):
        check_reachable(f"127.0.0.1:{port}", timeout=30)
    with socket.socket() as silent:  # accepts (the kernel does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(ConfigurationError, match=r"no answer within 0\.5 s"):
            check_reachable(f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)


def test_a_real_clusters_gcs_address_passes(ray_cluster: Any) -> None:
    address = ray_cluster.get_runtime_context().gcs_address
    check_reachable(address, timeout=30)
