"""The media row of ``kagura bench ray`` end to end, small: images described by Ray workers under one
quota enforced per second. With the budget shared through Redis every image is described once, nothing is
lost, and the provider refuses (almost) nothing; each worker on its own budget, the same run is refused
many times (so the bound on 429s is one sharing has to earn). No timing is asserted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kagura.bench._ray_media import MediaSizes, describe_on_ray
from kagura.bench.ingest import _write_images
from kagura.core.memory import RayEngine
from kagura.testing import FakeLLMProcess, RedisServer

SIZES = MediaSizes(images=120, workers=2, rpm=1200, burst=20, max_concurrent=20)


@pytest.mark.usefixtures("ray_cluster")
async def test_ray_workers_sharing_one_budget_stay_under_the_quota(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    corpus, warm = tmp_path / "images", tmp_path / "warm"
    _write_images(corpus, SIZES.images)
    _write_images(warm, 8)
    engine = RayEngine(workers=SIZES.workers)
    async with FakeLLMProcess(0.05, quota_rpm=SIZES.rpm, quota_burst=SIZES.burst) as server:
        # Workers started and their model loaded first (as the benchmark does): a process still starting
        # sends its first admitted calls late and bunched, which no client-side budget can prevent.
        await describe_on_ray(
            server, warm, tmp_path / "warm.db", replace(SIZES, images=8), key="warm", redis_url=None,
            engine=engine,
        )  # fmt: skip
        shared = await describe_on_ray(
            server, corpus, tmp_path / "shared.db", SIZES, key="shared", redis_url=redis_server.url,
            engine=engine,
        )  # fmt: skip
        own = await describe_on_ray(
            server, corpus, tmp_path / "own.db", SIZES, key="own", redis_url=None, engine=engine
        )
    engine.close()
    for run in (shared, own):
        assert run.lost == 0 and run.failed == 0  # every image indexed, none failed after retries
        assert run.admitted == run.described == SIZES.images  # each described exactly once
    assert shared.rate_limited <= 2, shared  # one budget for both workers: the quota is (nearly) never hit
    assert own.rate_limited >= 5, own  # two budgets spend up to twice the quota: the provider refuses
