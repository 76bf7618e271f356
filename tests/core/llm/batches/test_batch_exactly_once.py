"""Exactly-once submission: the submitter is killed at each step of submitting a chunk, then resumed.

A kill is a cancelled task while its request is held by the fake server (see ``FakeBatchService.hold``):
either the request never reached the server, or it did and its answer was lost. The resumed submitter
(a new backend, as after a restart) passes the ``since`` recorded before the first attempt: the server
ends up with exactly one batch per chunk, and an uploaded input file is re-used rather than uploaded again.
"""

from __future__ import annotations

import asyncio

import pytest

from kagura.core.llm.batches import (
    AnthropicBatchBackend,
    BatchBackend,
    BatchRequest,
    ChunkTag,
    OpenAIBatchBackend,
)
from kagura.errors import InvalidRequestError
from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer, ManualClock

KILL_POINTS = {
    "openai": [
        ("files.create", False),
        ("files.create", True),
        ("batches.create", False),
        ("batches.create", True),
    ],
    "anthropic": [("message_batches.create", False), ("message_batches.create", True)],
}


def _chunk(index: int, size: int = 3) -> list[BatchRequest]:
    return [
        BatchRequest(
            f"c{index}-{i}",
            {
                "model": "fake",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": f"item {index}.{i}"}],
            },
        )
        for i in range(size)
    ]


def _backend(provider: str, server: FakeLLMServer) -> BatchBackend:
    if provider == "openai":
        return OpenAIBatchBackend(server.base_url, "k", page_size=2)
    pytest.importorskip("anthropic")
    return AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "k")


def _batches(server: FakeLLMServer, provider: str) -> list[str]:
    found = server.batches.batches if provider == "openai" else server.batches.message_batches
    return list(found)


async def _killed_at(
    backend: BatchBackend,
    server: FakeLLMServer,
    route: str,
    after: bool,
    requests: list[BatchRequest],
    tag: ChunkTag,
    since: float,
    known: set[str],
) -> None:
    held = server.batches.hold(route, after=after)
    task = asyncio.create_task(backend.submit(requests, tag, since=since, known=known))
    await held.reached.wait()
    task.cancel()  # the process dies here
    with pytest.raises(asyncio.CancelledError):
        await task
    held.released.set()
    await backend.aclose()


@pytest.mark.parametrize(
    ("provider", "route", "after"), [(p, r, a) for p, points in KILL_POINTS.items() for r, a in points]
)
async def test_a_kill_at_any_step_of_submit_never_makes_a_second_batch(
    provider: str, route: str, after: bool
) -> None:
    clock = ManualClock()
    async with FakeLLMServer(batches=BatchSettings(BatchTimings(in_progress=100), clock=clock)) as server:
        recorded: dict[int, str] = {}  # the ledger: chunk -> batch id
        first = _backend(provider, server)
        since = clock()  # the intent, recorded before the first attempt at any chunk
        recorded[0] = (await first.submit(_chunk(0), ChunkTag("job", 0), since=since)).batch_id
        clock.advance(1)
        await _killed_at(
            first, server, route, after, _chunk(1), ChunkTag("job", 1), since, set(recorded.values())
        )
        made_before_resume = len(_batches(server, provider))
        clock.advance(1)
        resumed = _backend(provider, server)  # a new process
        for index in range(3):
            if index not in recorded:
                handle = await resumed.submit(
                    _chunk(index), ChunkTag("job", index), since=since, known=set(recorded.values())
                )
                recorded[index] = handle.batch_id
        assert len(_batches(server, provider)) == 3 == len(set(recorded.values()))
        assert sorted(_batches(server, provider)) == sorted(recorded.values())
        assert made_before_resume == (2 if route.endswith("batches.create") and after else 1)
        if provider == "openai":
            uploads = [f for f in server.batches.files.values() if f.purpose == "batch"]
            assert len(uploads) == 3  # an input file that reached the server was re-used, not uploaded again
        for index, batch_id in recorded.items():  # each batch holds its own chunk's requests
            batch = (server.batches.batches | server.batches.message_batches)[batch_id]
            assert [line.custom_id for line in batch.lines] == [r.custom_id for r in _chunk(index)]
        await resumed.aclose()


async def test_a_recorded_but_unsaved_batch_is_found_again_and_a_changed_chunk_is_refused() -> None:
    clock = ManualClock()
    async with FakeLLMServer(batches=BatchSettings(clock=clock)) as server:
        backend = OpenAIBatchBackend(server.base_url, "k")
        since = clock()
        handle = await backend.submit(_chunk(0), ChunkTag("job", 0), since=since)
        again = await backend.submit(_chunk(0), ChunkTag("job", 0), since=since)  # the ledger write was lost
        assert again.batch_id == handle.batch_id and len(server.batches.batches) == 1
        with pytest.raises(InvalidRequestError, match="already submitted with other requests"):
            await backend.submit(_chunk(0, size=4), ChunkTag("job", 0), since=since)
        await backend.aclose()


async def test_a_batch_that_failed_validation_does_not_block_a_resubmission() -> None:
    clock = ManualClock()
    async with FakeLLMServer(batches=BatchSettings(clock=clock, enqueued_token_limit=10)) as server:
        backend = OpenAIBatchBackend(server.base_url, "k")
        since = clock()
        big = _chunk(0, size=2)  # 2 x (2 + 8 max_tokens) = 20 tokens > 10
        with pytest.raises(Exception, match="token_limit_exceeded"):
            await backend.submit(big, ChunkTag("job", 0), since=since)
        server.batches.settings = BatchSettings(clock=clock)  # the limit was raised
        handle = await backend.submit(big, ChunkTag("job", 0), since=since)
        assert (await backend.poll(handle)).provider_status != "failed"
        assert len(server.batches.batches) == 2  # the failed one never ran; one live batch
        await backend.aclose()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_download_killed_halfway_is_read_again_in_full(provider: str) -> None:
    clock = ManualClock()
    async with FakeLLMServer(batches=BatchSettings(BatchTimings(in_progress=10), clock=clock)) as server:
        backend = _backend(provider, server)
        handle = await backend.submit(_chunk(0, size=6), ChunkTag("job", 0))
        clock.advance(60)
        partial = []
        async for result in backend.results(handle):  # the process dies after two results
            partial.append(result.custom_id)
            if len(partial) == 2:
                break
        again = [r.custom_id async for r in _backend(provider, server).results(handle)]
        assert again == [r.custom_id for r in _chunk(0, size=6)] and again[:2] == partial
        await backend.aclose()


async def test_anthropic_chunks_of_one_size_in_one_process_get_their_own_batches() -> None:
    pytest.importorskip("anthropic")
    clock = ManualClock()
    async with FakeLLMServer(batches=BatchSettings(clock=clock)) as server:
        backend = AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "k")
        since = clock()  # one intent time for the whole job, no ids passed: the backend remembers its own
        handles = [await backend.submit(_chunk(i), ChunkTag("job", i), since=since) for i in range(3)]
        assert len({h.batch_id for h in handles}) == 3 == len(server.batches.message_batches)
        await backend.aclose()
