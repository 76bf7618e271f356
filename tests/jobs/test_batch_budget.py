"""``--budget-usd`` with ``--via batch|auto``: each chunk's worst case at Batch prices is reserved before
the chunk is submitted and settled on its real cost; no chunk is submitted that could pass the cap, the
online fallback reserves on the same cap, and a job the cap stops ends ``stopped_at_budget`` (exit 3).
Property: whatever the answers' lengths, the chunk sizes, the batch failures and the cap, the ledger's
spend never passes the cap."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kagura.core.llm import LLMClient, LLMConfig, PriceTable
from kagura.core.llm.batches import ChunkLimits, OpenAIBatchBackend, PollSchedule
from kagura.jobs import BatchVia, Job, SpendCap
from kagura.testing import BatchSettings, BatchTimings, FakeLLMProcess, FakeLLMServer

PRICE = {"input": 1000.0, "output": 2000.0, "batch": 0.5}
PRICES = PriceTable.from_mapping({"fake": PRICE})
FAST = PollSchedule(first=0.02, factor=1.0, max_delay=0.02, warmup=0.0, floor=0.02)


def worst_of(model: str, body: dict[str, Any]) -> float:
    """A call's worst case at online prices: every prompt byte a token, its whole max_tokens answer."""
    prompt = sum(len(json.dumps(m["content"]).encode()) + 8 for m in body["messages"])
    return (prompt * PRICE["input"] + int(body["max_tokens"]) * PRICE["output"]) * 1e-6


def answer(messages: list[dict[str, Any]]) -> str:
    """An answer of the length the prompt asks for ("len=N": N characters, N / 4 tokens)."""
    text = str(messages[-1]["content"])
    return "x" * int(text.split("len=")[1].split()[0])


async def _job(tmp: Path, lines: list[dict[str, Any]], cap: float, *, via: str, size: int, fail: int | None,
               window: float = 3600.0) -> tuple[Job, BatchVia, FakeLLMServer]:  # fmt: skip
    timings = BatchTimings(in_progress=0.05, completion_window=window)
    async with FakeLLMServer(responder=answer, batches=BatchSettings(timings, fail_every=fail)) as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="test", max_attempts=2)
        async with LLMClient(config, prices=PRICES) as client:
            backend = OpenAIBatchBackend(
                server.base_url, "t", limits=ChunkLimits(max_requests=size, max_bytes=2**20)
            )
            batch = BatchVia(via, backend, schedule=FAST, rate=1000, max_rounds=1)  # type: ignore[arg-type]
            job = Job(lines, ledger=tmp / "ledger.db", client=client, worst_of=worst_of,
                      spend=SpendCap(cap), batch=batch)  # fmt: skip
            await job.run()
            await backend.aclose()
    return job, batch, server


def _spent(tmp: Path) -> float:
    with sqlite3.connect(tmp / "ledger.db") as conn:
        return float(conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM job_items").fetchone()[0])


def _lines(lengths: list[tuple[int, int]]) -> list[dict[str, Any]]:
    return [{"custom_id": f"q{i}", "prompt": f"len={length} item {i}", "max_tokens": limit}
            for i, (limit, length) in enumerate(lengths)]  # fmt: skip


async def test_the_cap_stops_batches_before_one_could_pass_it_and_nothing_runs_online(tmp_path: Path) -> None:
    lines = _lines([(50, 40)] * 12)
    one = worst_of("fake", {"messages": [{"content": lines[0]["prompt"]}], "max_tokens": 50}) * PRICE["batch"]
    cap = one * 5.5  # room for 5 items' worst case at Batch prices
    job, batch, server = await _job(tmp_path, lines, cap, via="batch", size=4, fail=None)
    sizes = [len(b.lines) for b in server.batches.batches.values()]
    assert sizes == [4, 1]  # 4 fit; the next chunk of 4 halved to 2, then 1: 5 in all
    assert job.report is not None and job.report.stopped_at_budget and job.report.exit_code == 3
    assert (job.report.done, job.report.pending) == (5, 7) and batch.over_budget
    assert server.stats.chat_requests == 0  # no online fallback for what the cap refused
    assert 0 < _spent(tmp_path) <= cap


async def test_expired_items_fall_back_online_under_the_same_cap(tmp_path: Path) -> None:
    lines = _lines([(50, 40)] * 8)
    big = 1.0  # room for everything: the 4 items the batch does not finish run online, reserved likewise
    job, _, server = await _job(tmp_path, lines, big, via="batch", size=8, fail=None, window=0.025)
    assert job.report is not None and job.report.done == 8 and not job.report.stopped_at_budget
    assert server.stats.chat_requests == 4 and _spent(tmp_path) <= big
    # and a cap with no room left after the batch: the online fallback stops at it (exit 3)
    tight = _spent(tmp_path) * 0.7
    again = tmp_path / "again"
    again.mkdir()
    job, _, server = await _job(again, lines, tight, via="batch", size=8, fail=None, window=0.025)
    assert job.report is not None and job.report.stopped_at_budget and _spent(again) <= tight


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.tuples(st.integers(1, 60), st.integers(0, 240)), min_size=1, max_size=24),
    cap_share=st.floats(0.0, 1.2),
    via=st.sampled_from(["batch", "auto"]),
    size=st.integers(1, 9),
    fail=st.sampled_from([None, 2, 3]),
)
def test_spend_never_passes_the_cap(
    lengths: list[tuple[int, int]], cap_share: float, via: str, size: int, fail: int | None
) -> None:
    lines = _lines([(limit, min(length, 4 * limit)) for limit, length in lengths])  # answers <= max_tokens
    full = sum(worst_of("fake", {"messages": [{"content": x["prompt"]}], "max_tokens": x["max_tokens"]})
               for x in lines)  # fmt: skip
    cap = full * cap_share
    with tempfile.TemporaryDirectory() as tmp:
        job, _, _ = asyncio.run(_job(Path(tmp), lines, cap, via=via, size=size, fail=fail))
        spent = _spent(Path(tmp))
    assert spent <= cap + 1e-12
    assert job.report is not None
    assert job.report.stopped_at_budget or job.report.done + job.report.failed == len(lines)


async def test_kagura_run_via_batch_with_a_budget_exits_3_within_the_cap(tmp_path: Path) -> None:
    requests, prices = tmp_path / "in.jsonl", tmp_path / "prices.json"
    requests.write_text("".join(json.dumps({"custom_id": f"q{i}", "prompt": f"hello {i}", "max_tokens": 20})
                                + "\n" for i in range(30)))  # fmt: skip
    prices.write_text(json.dumps({"fake": PRICE}))
    async with FakeLLMProcess(batch_args=("--batch-seconds", "0.2")) as server:
        out = tmp_path / "out.jsonl"
        args = [sys.executable, "-m", "kagura.cli", "run", str(requests), "--out", str(out), "--base-url",
                server.base_url, "--model", "fake", "--api-key", "test", "--prices", str(prices), "--json",
                "--via", "batch", "--batch-size", "10", "--budget-usd", "0.5"]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)  # fmt: skip
        stdout, stderr = await proc.communicate()
        assert proc.returncode == 3, stderr.decode()
        summary = json.loads(stdout)
        assert summary["stopped_at_budget"] and 0 < summary["done"] < 30 and summary["cost_usd"] <= 0.5
        assert summary["requests"] == 0 and (await server.stats())["chat_requests"] == 0
