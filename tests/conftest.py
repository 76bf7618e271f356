"""Shared pytest configuration, and the Ray cluster the engine-parametrized ingestion tests share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["kagura.testing.pytest_plugin"]

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
