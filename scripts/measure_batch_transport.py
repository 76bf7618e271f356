"""Measure the batch transport against the fake server: 10,000 requests through OpenAI-compatible and
Anthropic batches on a virtual clock (each batch runs an hour): chunks made, polls per batch, results read,
and the real seconds spent submitting and downloading.

    .venv/bin/python scripts/measure_batch_transport.py [--items 10000] [--chunk 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from kagura.core.llm.batches import (
    AnthropicBatchBackend,
    BatchBackend,
    BatchRequest,
    ChunkLimits,
    ChunkTag,
    OpenAIBatchBackend,
    chunk_requests,
    wait_until_ended,
)
from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer, ManualClock


async def measure(provider: str, items: int, chunk: int) -> dict[str, float]:
    clock = ManualClock()

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    timings = BatchTimings(validating=30, in_progress=3600, finalizing=60)
    async with FakeLLMServer(batches=BatchSettings(timings, clock=clock)) as server:
        backend: BatchBackend
        if provider == "openai":
            backend = OpenAIBatchBackend(server.base_url, "k", limits=ChunkLimits(chunk, 200 * 2**20))
        else:
            backend = AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "k",
                                            limits=ChunkLimits(chunk, 256 * 2**20))  # fmt: skip
        requests = [BatchRequest(f"q{i}", {"model": "fake", "max_tokens": 16,
                                           "messages": [{"role": "user", "content": f"question {i}"}]})
                    for i in range(items)]  # fmt: skip
        started = time.perf_counter()
        handles = []
        for i, chunk_of in enumerate(chunk_requests(backend, requests)):
            since = clock()  # the runner records its intent, then submits, then records the batch
            known = {h.batch_id for h in handles}
            tag = ChunkTag("measure", i)
            handles.append(await backend.submit(chunk_of, tag, since=since, known=known))
        submitted = time.perf_counter() - started
        before = len(server.batches.requests)
        first = await wait_until_ended(backend, handles[0], sleep=sleep, clock=clock)  # an hour, virtual
        polls = sum(1 for route, _ in server.batches.requests[before:] if route.endswith("retrieve"))
        statuses = [first] + [
            await wait_until_ended(backend, h, sleep=sleep, clock=clock) for h in handles[1:]
        ]
        assert all(s.ended for s in statuses)
        started = time.perf_counter()
        seen = [r.custom_id for h in handles async for r in backend.results(h) if r.ok]
        downloaded = time.perf_counter() - started
        assert sorted(seen) == sorted(r.custom_id for r in requests)
        await backend.aclose()
        return {"chunks": len(handles), "polls_for_1h_batch": polls, "results": len(seen),
                "submit_s": submitted, "download_s": downloaded}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=4_000, help="requests per batch (the limit to split by)")
    args = parser.parse_args()
    for provider in ("openai", "anthropic"):
        row = asyncio.run(measure(provider, args.items, args.chunk))
        print(
            provider, " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        )


if __name__ == "__main__":
    main()
