"""Shared pytest configuration: the fixtures for permission tests that must hold even as root, and the
Ray cluster the engine-parametrized ingestion tests share."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest_plugins = ["kagura.testing.pytest_plugin"]

_saved_env: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Keep built ONNX graphs in a private cache for the session, and never download model weights."""
    for name, value in {
        "KAGURA_CACHE_DIR": tempfile.mkdtemp(prefix="kagura-test-cache-"),
        "KAGURA_EMBEDDING_DOWNLOAD": "0",
    }.items():
        _saved_env[name] = os.environ.get(name)
        os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    cache = os.environ.get("KAGURA_CACHE_DIR")
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if cache and os.path.basename(cache).startswith("kagura-test-cache-"):
        shutil.rmtree(cache, ignore_errors=True)


T = TypeVar("T")


@pytest.fixture
def world_tmp() -> Iterator[Path]:
    """A temporary directory that an unprivileged user can enter (tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="kagura-loaders-"))
    path.chmod(0o777)  # an unprivileged child may also write there (a store)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):
            if not sub.is_symlink():
                sub.chmod(0o700 if sub.is_dir() else 0o600)
        shutil.rmtree(path)


@pytest.fixture
def unprivileged() -> Callable[[Callable[[], T]], T]:
    """``unprivileged(func)`` runs ``func`` as an unprivileged user (see :func:`run_unprivileged`)."""
    return run_unprivileged


def run_unprivileged(func: Callable[[], T]) -> T:
    """Run ``func`` as an unprivileged user, so permission bits really apply even when tests run as root.

    Not root: call it here. Root: fork, drop to uid/gid 65534 in the child, call it there and send the
    result back through a pipe (the modules it needs are imported beforehand, so the child reads nothing).
    """
    if os.geteuid() != 0:
        return func()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = pickle.dumps(("ok", func()))
        except BaseException as exc:
            payload = pickle.dumps(("error", exc))
        with os.fdopen(write_fd, "wb") as out:
            out.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as inp:
        status, value = pickle.loads(inp.read())
    os.waitpid(pid, 0)
    if status == "error":
        raise value
    return value


TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray cluster (2 CPUs, no dashboard) for the whole session, shut down at the end.

    Its workers import kagura and the test helpers (embedders defined in test modules are pickled by
    reference), so both folders go on the PYTHONPATH the cluster's processes inherit."""
    ray = pytest.importorskip("ray")
    import kagura

    source = Path(kagura.__file__).resolve().parents[1]
    paths = [str(source), str(TESTS / "core" / "memory"), str(TESTS)]
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, *([before] if before else [])])
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    yield ray
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def engine(request: pytest.FixtureRequest) -> str:
    """Each ingestion test that takes it runs once per engine; "ray" on the session's cluster."""
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param
