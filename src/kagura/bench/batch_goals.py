"""The Batch API issue's goals, measured: ``python -m kagura.bench.batch_goals [--provider openai|anthropic]
[--items N] [--quick]``.

Each scenario is one :class:`~kagura.jobs.Job` with a :class:`~kagura.jobs.BatchVia` (the library under
``kagura run --via``) against a fake server process (``kagura fake-llm``: its Batch API on a real clock,
its online endpoint under an enforced RPM quota), for OpenAI-compatible batches and Anthropic Message
Batches alike. Prices are 1 / 2 USD per 1M input / output tokens, batch at half; "vs online" divides the
job's cost by the same tokens at online prices. "online calls" are the chat (or messages) requests the
server saw during the job, "paid" is those plus the batch lines it completed (= items: nothing paid twice).
Polling is counted by a wrapper around the backend: the shortest gap between two polls of one batch once
it is a minute old (goal: at least 10 s).

1. ``batch``: N items, a batch that ends well before the deadline (the fake takes 150 s: polls after the
   first minute are visible).
2. ``tight``: 2,000 items, a batch (120 s) slower than a 90 s deadline, ``auto`` at 3,000 RPM online.
3. ``expired``: 1,000 items, a batch that expires with about half done (0.008 s per request, a 4.5 s
   window): with a 1 h deadline the rest is batched again; ``auto`` with a 10 s deadline runs it online
   (30,000 RPM: no time for a second batch, time to run the rest online).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from typing import Any

from kagura.core.llm import LLMClient, LLMConfig, PriceTable
from kagura.core.llm.batches import (
    AnthropicBatchBackend,
    BatchHandle,
    BatchItemResult,
    BatchRequest,
    BatchStatus,
    ChunkTag,
    OpenAIBatchBackend,
)
from kagura.jobs import BatchVia, Job
from kagura.testing import FakeLLMProcess

__all__ = ["CountingBackend", "run_goals"]

PRICES = {"fake": {"input": 1.0, "output": 2.0, "batch": 0.5}}


class CountingBackend:
    """A batch backend that notes when each batch is polled, delegating everything to ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.provider, self.limits = inner.provider, inner.limits
        self.polls: dict[str, list[float]] = {}

    def encode(self, request: BatchRequest) -> bytes:
        return bytes(self.inner.encode(request))

    async def submit(
        self, requests: Sequence[BatchRequest], tag: ChunkTag, *, since: float | None = None,
        known: Collection[str] = (),
    ) -> BatchHandle:  # fmt: skip
        return await self.inner.submit(requests, tag, since=since, known=known)

    async def find(self, tag: ChunkTag, **options: Any) -> list[BatchHandle]:
        return list(await self.inner.find(tag, **options))

    async def poll(self, handle: BatchHandle) -> BatchStatus:
        self.polls.setdefault(handle.batch_id, []).append(time.monotonic())
        return await self.inner.poll(handle)

    async def results(self, handle: BatchHandle) -> AsyncIterator[BatchItemResult]:
        async for result in self.inner.results(handle):
            yield result

    async def cancel(self, handle: BatchHandle) -> BatchStatus:
        return await self.inner.cancel(handle)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def min_gap_after_first_minute(self) -> float | None:
        gaps = [
            b - a
            for times in self.polls.values()
            for a, b in itertools.pairwise(times)
            if a - times[0] >= 60.0
        ]
        return round(min(gaps), 2) if gaps else None


async def _paid(server: FakeLLMProcess) -> tuple[int, int]:
    """(online calls, batch lines completed) the server has seen so far."""
    import aiohttp

    stats = await server.stats()
    online = int(stats["chat_requests"]) + int(stats.get("messages_requests", 0))
    root = server.base_url.removesuffix("/v1")
    done = 0
    async with aiohttp.ClientSession(headers={"x-api-key": "bench", "anthropic-version": "2023-06-01"}) as s:
        async with s.get(server.base_url + "/batches?limit=100") as response:
            done += sum(b["request_counts"]["completed"] for b in (await response.json())["data"])
        async with s.get(root + "/v1/messages/batches?limit=100") as response:
            done += sum(b["request_counts"]["succeeded"] for b in (await response.json())["data"])
    return online, done


async def _scenario(
    provider: str, name: str, items: int, fake: Sequence[str], *, via: str, deadline: float, rpm: float,
    tmp: Path,
) -> dict[str, Any]:  # fmt: skip
    lines = [{"custom_id": f"q{i}", "prompt": f"label item {i}"} for i in range(items)]
    async with FakeLLMProcess(0.02, quota_rpm=rpm, quota_burst=rpm / 60, batch_args=fake) as server:
        if provider == "anthropic":
            config = LLMConfig(provider="anthropic", model="fake", base_url=server.base_url,
                               api_key="sk-ant-b", requests_per_minute=int(rpm), max_attempts=8)  # fmt: skip
            inner: Any = AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "sk-ant-b")
        else:
            config = LLMConfig(model="fake", base_url=server.base_url, api_key="bench",
                               requests_per_minute=int(rpm), max_attempts=8)  # fmt: skip
            inner = OpenAIBatchBackend(server.base_url, "bench")
        backend = CountingBackend(inner)
        async with LLMClient(config, prices=PriceTable.from_mapping(PRICES)) as client:
            batch = BatchVia(via, backend, deadline=deadline)  # type: ignore[arg-type]
            job = Job(lines, ledger=tmp / f"{provider}-{name}.db", client=client, batch=batch)
            started = time.monotonic()
            report = await job.run()
            wall = time.monotonic() - started
            await backend.aclose()
        online_calls, batch_lines = await _paid(server)
    online_cost = (report.prompt_tokens * 1.0 + report.completion_tokens * 2.0) * 1e-6
    return {
        "provider": provider, "scenario": name, "items": items, "via": via, "deadline_s": deadline,
        "done": report.done, "wall_s": round(wall, 1), "by_deadline": wall <= deadline,
        "cost_vs_online": round(report.cost_usd / online_cost, 3) if online_cost else None,
        "online_calls": online_calls, "batch_lines_done": batch_lines, "paid": online_calls + batch_lines,
        "batches_created": batch.batches_created, "rebatched": batch.rebatched, "cut_over": batch.cut_over,
        "min_poll_gap_after_1min_s": backend.min_gap_after_first_minute(),
    }  # fmt: skip


async def run_goals(provider: str, items: int = 10_000, quick: bool = False) -> list[dict[str, Any]]:
    """Every scenario for ``provider``, one after the other."""
    scale = 10 if quick else 1
    per_request = ("--batch-seconds", "0", "--batch-request-seconds", f"{0.008 * scale:g}", "--batch-window",
                   "4.5")  # fmt: skip
    plan: list[tuple[str, int, tuple[str, ...], str, float, float]] = [
        ("batch", items // scale, ("--batch-seconds", "150" if not quick else "3"), "batch", 3600.0, 12_000),
        (
            "tight",
            2000 // scale,
            ("--batch-seconds", "120" if not quick else "20"),
            "auto",
            90.0 if not quick else 15.0,
            3000,
        ),
        ("expired, 1 h", 1000 // scale, per_request, "batch", 3600.0, 30_000),
        ("expired, 10 s", 1000 // scale, per_request, "auto", 10.0, 30_000),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        for name, n, fake, via, deadline, rpm in plan:
            rows.append(await _scenario(provider, name, n, fake, via=via, deadline=deadline, rpm=rpm,
                                        tmp=Path(tmp_name)))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--provider", choices=("openai", "anthropic"), default="openai")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for row in asyncio.run(run_goals(args.provider, args.items, args.quick)):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
