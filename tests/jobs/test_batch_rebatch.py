"""Items a batch gives back (expired, failed for a transient reason) go into a new batch when time allows,
else online: the same estimate auto uses (the batches' turnaround seen so far, the time left, the online
time of the items under the client's rate). The fake server's batches take longer the more they hold
(``per_request``), so a batch that expires half done is followed by a smaller one that completes."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kagura.core.llm import LLMClient, LLMConfig, PriceTable
from kagura.core.llm.batches import AnthropicBatchBackend, ChunkLimits, OpenAIBatchBackend, PollSchedule
from kagura.jobs import BatchVia, Job
from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer

PRICES = PriceTable.from_mapping({"fake": {"input": 1.0, "output": 2.0, "batch": 0.5}})
FAST = PollSchedule(first=0.05, factor=1.0, max_delay=0.05, warmup=0.0, floor=0.05)
N = 20


def _backend(kind: str, server: FakeLLMServer) -> Any:
    limits = ChunkLimits(max_requests=100, max_bytes=2**20)
    if kind == "openai":
        return OpenAIBatchBackend(server.base_url, "test", limits=limits)
    pytest.importorskip("anthropic")
    return AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "sk-ant-test", limits=limits)


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    # 20 requests take 0.8 s, the window is 0.5 s: the first batch expires with 12 done; 8 take 0.32 s
    timings = BatchTimings(in_progress=0.0, per_request=0.04, completion_window=0.5)
    async with FakeLLMServer(batches=BatchSettings(timings)) as started:
        yield started


async def _run(tmp: Path, server: FakeLLMServer, kind: str, deadline: float, **via: Any) -> Job:
    provider = {"provider": "anthropic"} if kind == "anthropic" else {}  # online through its Messages API
    config = LLMConfig(model="fake", base_url=server.base_url, api_key="test", max_attempts=2, **provider)
    lines = [{"custom_id": f"q{i}", "prompt": f"hello {i}"} for i in range(N)]
    async with LLMClient(config, prices=PRICES) as client:
        batch = BatchVia("batch", _backend(kind, server), deadline=deadline, schedule=FAST, rate=100, **via)
        job = Job(lines, ledger=tmp / "ledger.db", client=client, out=tmp / "out.jsonl", batch=batch)
        await job.run()
        await batch.backend.aclose()
    return job


def _made(server: FakeLLMServer, kind: str) -> list[Any]:
    made = server.batches.batches if kind == "openai" else server.batches.message_batches
    return list(made.values())


def _ways(tmp: Path) -> dict[str, tuple[int, float]]:
    """Done items by way: (count, dollars), from the ledger."""
    with sqlite3.connect(tmp / "ledger.db") as conn:
        rows = conn.execute(
            "SELECT via, COUNT(*), SUM(cost_usd) FROM job_items WHERE state = 'done' GROUP BY via"
        ).fetchall()
    return {str(via): (int(count), float(cost)) for via, count, cost in rows}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_batch_expiring_half_done_with_a_long_deadline_rebatches_the_rest_once(
    tmp_path: Path, server: FakeLLMServer, kind: str
) -> None:
    job = await _run(tmp_path, server, kind, deadline=3600)
    assert job.report is not None and (job.report.done, job.report.pending) == (N, 0)
    assert server.stats.chat_requests + server.stats.messages_requests == 0 == job.report.requests
    first, second = _made(server, kind)  # exactly one new batch, holding exactly the expired items
    assert len(first.lines) == N and len(second.lines) == N - 12
    assert job.batch is not None and (job.batch.batches_created, job.batch.rebatched) == (2, N - 12)
    count, cost = _ways(tmp_path)["batch"]
    assert count == N and cost == pytest.approx(job.report.cost_usd)  # every item at the batch price
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == N


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_batch_expiring_half_done_with_a_short_deadline_runs_the_rest_online(
    tmp_path: Path, server: FakeLLMServer, kind: str
) -> None:
    # 8 items online take 1.5 x 8 / 100 + 2 s: past a 2 s deadline once the first batch took 0.5 s
    job = await _run(tmp_path, server, kind, deadline=2.0)
    assert job.report is not None and (job.report.done, job.report.pending) == (N, 0)
    assert len(_made(server, kind)) == 1
    online = server.stats.messages_requests if kind == "anthropic" else server.stats.chat_requests
    assert online == N - 12 == job.report.requests and job.report.failed == 0
    ways = _ways(tmp_path)
    assert ways["batch"][0] == 12 and ways["online"][0] == N - 12


async def test_the_expected_turnaround_keeps_items_online_when_a_new_batch_would_not_fit(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    # a batch is expected to take all but a few seconds of the deadline: no time for a second one
    job = await _run(tmp_path, server, "openai", deadline=3600, turnaround=3598)
    assert len(_made(server, "openai")) == 1 and server.stats.chat_requests == N - 12
    assert job.batch is not None and job.batch.rebatched == 0


async def test_an_item_goes_into_max_rounds_batches_at_most(tmp_path: Path) -> None:
    # every batch expires with 65 % done: 20 -> 7 -> 3 left (with max_rounds=2), those run online
    timings = BatchTimings(in_progress=1.0, completion_window=0.65)
    async with FakeLLMServer(batches=BatchSettings(timings)) as server:
        job = await _run(tmp_path, server, "openai", deadline=3600)
        sizes = [len(batch.lines) for batch in _made(server, "openai")]
    assert sizes == [N, 7] and server.stats.chat_requests == 3
    assert job.report is not None and job.report.done == N
