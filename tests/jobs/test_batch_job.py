"""``Job(..., batch=BatchVia(...))`` in process against the fake server, with OpenAI's and Anthropic's batch
backends alike: every item via the batch at half price and 0 online calls; items a batch fails (HTTP 500)
run online, each once; results yielded once each."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kagura.core.llm import LLMClient, LLMConfig, PriceTable
from kagura.core.llm.batches import (
    AnthropicBatchBackend,
    BatchRequest,
    ChunkLimits,
    ChunkTag,
    OpenAIBatchBackend,
    PollSchedule,
    chunk_digest,
)
from kagura.errors import ConfigurationError
from kagura.jobs import BatchVia, Job
from kagura.jobs._batch_ledger import BatchLedger
from kagura.jobs._ledgers import open_ledger
from kagura.jobs._prepare import register
from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer

PRICES = PriceTable.from_mapping({"fake": {"input": 1.0, "output": 2.0, "batch": 0.5}})
FAST = PollSchedule(first=0.05, factor=1.0, max_delay=0.05, warmup=0.0, floor=0.05)


def _backend(kind: str, server: FakeLLMServer, size: int) -> Any:
    limits = ChunkLimits(max_requests=size, max_bytes=2**20)
    if kind == "openai":
        return OpenAIBatchBackend(server.base_url, "test", limits=limits)
    pytest.importorskip("anthropic")
    return AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "sk-ant-test", limits=limits)


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[FakeLLMServer]:
    fail_every = getattr(request, "param", None)
    settings = BatchSettings(BatchTimings(in_progress=0.2), fail_every=fail_every)
    async with FakeLLMServer(batches=settings) as started:
        yield started


async def _run(tmp: Path, server: FakeLLMServer, kind: str, n: int, **opts: Any) -> tuple[Job, list[str]]:
    config = LLMConfig(
        model="fake", base_url=server.base_url, api_key="test", max_attempts=2, retry_max_delay=0
    )
    lines = [{"custom_id": f"q{i}", "prompt": f"hello {i}"} for i in range(n)]
    async with LLMClient(config, prices=PRICES) as client:
        via = BatchVia("batch", _backend(kind, server, 4), schedule=FAST, **opts)
        job = Job(lines, ledger=tmp / "ledger.db", client=client, out=tmp / "out.jsonl", batch=via)
        seen = [result.custom_id async for result in job.results()]
        await via.backend.aclose()
    return job, seen


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_every_item_via_batch_at_half_price_and_no_online_call(
    tmp_path: Path, server: FakeLLMServer, kind: str
) -> None:
    job, seen = await _run(tmp_path, server, kind, 10)
    assert sorted(seen) == sorted(f"q{i}" for i in range(10))  # each yielded once
    assert job.report is not None and (job.report.done, job.report.requests) == (10, 0)
    assert server.stats.chat_requests == 0
    assert job.batch is not None and job.batch.batches_created == 3  # 4 + 4 + 2
    ledger = open_ledger(tmp_path / "ledger.db", "default")
    try:
        via = BatchLedger(ledger).via_counts()
        counts = ledger.counts()
    finally:
        ledger.close()
    online = (counts.prompt_tokens * 1.0 + counts.completion_tokens * 2.0) * 1e-6
    assert via["batch"]["items"] == 10 and counts.cost_usd == pytest.approx(online / 2)
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 10


@pytest.mark.parametrize("server", [4], indirect=True)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_items_a_batch_fails_run_online_once_each(
    tmp_path: Path, server: FakeLLMServer, kind: str
) -> None:
    # every 4th line of each batch fails (HTTP 500); one batch round only: they run online
    job, seen = await _run(tmp_path, server, kind, 12, max_rounds=1)
    assert sorted(seen) == sorted(f"q{i}" for i in range(12))
    assert job.report is not None and job.report.done == 12 and job.report.failed == 0
    assert server.stats.chat_requests == 3 == job.report.requests  # one per failed batch line, online


@pytest.mark.parametrize("server", [4], indirect=True)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_items_a_batch_fails_go_into_a_new_batch_when_time_allows(
    tmp_path: Path, server: FakeLLMServer, kind: str
) -> None:
    job, seen = await _run(tmp_path, server, kind, 12)  # 24 h deadline: the 3 failed lines are batched again
    assert sorted(seen) == sorted(f"q{i}" for i in range(12))
    assert job.report is not None and job.report.done == 12 and job.report.requests == 0
    assert server.stats.chat_requests == 0
    assert job.batch is not None and job.batch.rebatched == 3  # each failed line batched once more
    assert 3 + 1 <= job.batch.batches_created <= 3 + 3  # one new batch per poll round that saw some end


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_crash_after_creating_a_batch_before_recording_it_never_submits_the_chunk_twice(
    tmp_path: Path, server: FakeLLMServer, kind: str
) -> None:
    ledger = open_ledger(tmp_path / "ledger.db", "default")
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    ledger.pid = gone.pid  # the first run's worker: a process of this host that has exited
    backend = _backend(kind, server, 4)
    try:  # the first run: items recorded, chunk 0's intent, its batch made, then killed before recording it
        register(ledger, [{"custom_id": f"q{i}", "prompt": f"hello {i}"} for i in range(10)], "fake", "input")
        book = BatchLedger(ledger)
        first = [BatchRequest(p.custom_id, json.loads(p.body), p.url) for p in book.pending()[:4]]
        since = time.time()
        book.record_intent(0, chunk_digest(first), since, [r.custom_id for r in first])
        await backend.submit(first, ChunkTag("default", 0, chunk_digest(first)), since=since)
    finally:
        ledger.close()
        await backend.aclose()
    made = server.batches.batches if kind == "openai" else server.batches.message_batches
    assert len(made) == 1
    config = LLMConfig(model="fake", base_url=server.base_url, api_key="test")
    async with LLMClient(config, prices=PRICES) as client:  # online alone would wait on the held items
        with pytest.raises(ConfigurationError, match="batches in flight"):
            await Job([], ledger=tmp_path / "ledger.db", client=client).run()
    assert server.stats.chat_requests == 0
    job, seen = await _run(tmp_path, server, kind, 10)  # the same job again
    assert len(made) == 3  # chunk 0 found by listing, chunks 1 and 2 made: one batch per chunk
    assert sorted(seen) == sorted(f"q{i}" for i in range(10)) and server.stats.chat_requests == 0
    assert job.batch is not None and job.batch.batches_created == 3  # chunk 0's found, 2 new


async def test_new_lines_after_the_deadline_of_collected_batches_start_a_new_deadline(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    config = LLMConfig(model="fake", base_url=server.base_url, api_key="test")
    lines = [{"custom_id": f"q{i}", "prompt": f"hello {i}"} for i in range(8)]
    async with LLMClient(config, prices=PRICES) as client:
        for batch_of, later in ((lines[:4], 0.0), (lines, 120.0)):  # the 4 new lines come 2 deadlines later
            via = BatchVia("batch", _backend("openai", server, 10), deadline=60, schedule=FAST,
                           clock=lambda later=later: time.time() + later)  # fmt: skip
            job = Job(batch_of, ledger=tmp_path / "ledger.db", client=client, batch=via)
            report = await job.run()
            await via.backend.aclose()
            assert report.done == len(batch_of) and via.batches_created == 1
    assert server.stats.chat_requests == 0  # the new lines went to a new batch, not online
