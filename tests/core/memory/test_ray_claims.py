"""Ray batches take description claims as local runs do: a Ray ingest and a local ingest of the same
images at once pay once per description, on SQLite (claims through the driver-node actor) and on
PostgreSQL (the workers claim in the database)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from _rag_support import images, llm_for

from kagura.core.memory import MultimodalRAG
from kagura.testing import FakeLLMServer

IMAGES = 8


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_ray_and_a_local_ingest_at_once_describe_each_image_once(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    corpus = tmp_path / "c"
    images(corpus, IMAGES)
    store = tmp_path / "s.db" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    gate = asyncio.Event()

    async def responder(messages: list[dict[str, object]]) -> str:
        await gate.wait()  # no description finishes before both runs are describing
        return "a small coloured square"

    async with FakeLLMServer(responder=responder) as server:
        llm = llm_for(server, retry_max_delay=0.05)
        on_ray, local = MultimodalRAG(store, llm=llm), MultimodalRAG(store, llm=llm)
        await asyncio.to_thread(lambda: (on_ray.embedder, local.embedder))
        # One image per batch, two batches at a time: the Ray run holds two images when the local run
        # starts; the local run, free to describe all at once, takes the six others.
        ray_run = asyncio.ensure_future(
            on_ray.load_directory(corpus, max_concurrent=IMAGES, engine="ray", ray_workers=2)
        )
        await asyncio.wait_for(server.wait_for_requests(2), 300)
        local_run = asyncio.ensure_future(local.load_directory(corpus, max_concurrent=IMAGES))
        # Without claims in Ray batches the local run would ask for all eight: ten requests in all.
        await asyncio.wait_for(server.wait_for_requests(IMAGES), 300)
        gate.set()
        await asyncio.wait_for(asyncio.gather(ray_run, local_run), 300)
        requests = server.stats.chat_requests
    reports = [on_ray.last_report, local.last_report]
    assert all(r is not None and r.completed and not r.failed for r in reports)
    assert requests == IMAGES  # each image described exactly once, across both runs
    assert sum(r.llm_calls for r in reports if r is not None) == IMAGES
    assert all(r.llm_calls > 0 for r in reports if r is not None)  # both runs really described
    for r in reports:
        assert r is not None and len(r.indexed) + len(r.unchanged) == IMAGES
    docs = on_ray.documents(corpus)
    assert len(docs) == IMAGES and all(d.described for d in docs)
    on_ray.close()
    local.close()
