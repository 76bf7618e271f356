"""OpenAIBatchBackend against the fake server: submit, poll, results (every outcome), cancel, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kagura.core.llm import Usage
from kagura.core.llm.batches import BatchRequest, ChunkTag, OpenAIBatchBackend, chunk_digest
from kagura.errors import InvalidRequestError, ProviderConnectionError, RateLimitedError
from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer, ManualClock


def _requests(n: int, prefix: str = "r") -> list[BatchRequest]:
    return [
        BatchRequest(f"{prefix}{i}", {"model": "fake", "messages": [{"role": "user", "content": f"q {i}"}]})
        for i in range(n)
    ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def server(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[FakeLLMServer]:
    settings = {"timings": BatchTimings(validating=5, in_progress=100), **getattr(request, "param", {})}
    async with FakeLLMServer(batches=BatchSettings(clock=clock, **settings)) as fake:
        yield fake


@pytest.fixture
async def backend(server: FakeLLMServer) -> AsyncIterator[OpenAIBatchBackend]:
    client = OpenAIBatchBackend(server.base_url, "sk-test")
    yield client
    await client.aclose()


@pytest.mark.parametrize("server", [{"fail_every": 5}], indirect=True)
async def test_submit_poll_and_read_every_result(
    backend: OpenAIBatchBackend, server: FakeLLMServer, clock: ManualClock
) -> None:
    requests = _requests(10)
    handle = await backend.submit(requests, ChunkTag("job-1", 3))
    assert handle.provider == "openai" and handle.request_count == 10
    assert handle.tag == ChunkTag("job-1", 3, chunk_digest(requests))
    [batch] = server.batches.batches.values()
    assert batch.metadata == {
        "kagura_job": "job-1",
        "kagura_chunk": "3",
        "kagura_digest": chunk_digest(requests),
    }
    assert (await backend.poll(handle)).state == "running"
    with pytest.raises(InvalidRequestError, match="has not ended"):
        [r async for r in backend.results(handle)]
    clock.advance(500)
    status = await backend.poll(handle)
    assert (status.state, status.provider_status, status.succeeded, status.errored) == (
        "ended",
        "completed",
        8,
        2,
    )
    results = {r.custom_id: r async for r in backend.results(handle)}
    assert sorted(results) == sorted(r.custom_id for r in requests)
    assert [cid for cid, r in results.items() if not r.ok] == ["r4", "r9"]
    assert results["r4"].status_code == 500 and results["r4"].outcome == "errored"
    ok = results["r0"]
    assert ok.status_code == 200 and ok.body is not None
    assert ok.body["choices"][0]["message"]["content"] == "fake answer: q 0"
    assert ok.usage == Usage(prompt_tokens=1, completion_tokens=4)


async def test_expired_and_cancelled_items_are_reported_as_such(clock: ManualClock) -> None:
    settings = BatchSettings(BatchTimings(in_progress=100, completion_window=50), clock=clock)
    async with FakeLLMServer(batches=settings) as server:
        backend = OpenAIBatchBackend(server.base_url, "k")
        expiring = await backend.submit(_requests(4), ChunkTag("job", 0))
        clock.advance(60)
        status = await backend.poll(expiring)
        assert (status.provider_status, status.succeeded, status.expired) == ("expired", 2, 2)
        outcomes = [r.outcome async for r in backend.results(expiring)]
        assert outcomes == ["succeeded", "succeeded", "expired", "expired"]
        cancelled = await backend.submit(_requests(4, "c"), ChunkTag("job", 1))
        clock.advance(25)
        assert (await backend.cancel(cancelled)).state in ("cancelling", "ended")
        status = await backend.poll(cancelled)
        assert (status.provider_status, status.succeeded, status.canceled) == ("cancelled", 1, 3)
        assert [r.outcome async for r in backend.results(cancelled)] == ["succeeded"] + ["canceled"] * 3
        await backend.aclose()


@pytest.mark.parametrize("server", [{"enqueued_token_limit": 15}], indirect=True)
async def test_over_the_enqueued_token_limit_is_retryable(
    backend: OpenAIBatchBackend, clock: ManualClock
) -> None:
    await backend.submit(_requests(10), ChunkTag("job", 0))  # 10 x 1 token
    with pytest.raises(RateLimitedError, match="token_limit_exceeded"):
        await backend.submit(_requests(10, "s"), ChunkTag("job", 1))
    clock.advance(500)  # the first batch finished: room again
    handle = await backend.submit(_requests(10, "s"), ChunkTag("job", 1))
    assert (await backend.poll(handle)).state == "running"


async def test_find_lists_every_page_and_matches_job_and_chunk(server: FakeLLMServer) -> None:
    backend = OpenAIBatchBackend(server.base_url, "k", page_size=2)
    handles = [await backend.submit(_requests(1, f"j{i}"), ChunkTag("job", i)) for i in range(5)]
    await backend.submit(_requests(1), ChunkTag("other-job", 0))
    assert [h.batch_id for h in await backend.find(ChunkTag("job", 0))] == [handles[0].batch_id]
    assert await backend.find(ChunkTag("job", 9)) == []
    listed = [route for route, _ in server.batches.requests if route == "batches.list"]
    assert len(listed) == 3 + 3  # six batches, two per page, for each of the two finds
    await backend.aclose()


async def test_errors_become_kagura_errors(backend: OpenAIBatchBackend) -> None:
    from kagura.core.llm.batches import BatchHandle

    with pytest.raises(InvalidRequestError, match="404"):
        await backend.poll(BatchHandle("openai", "batch_missing"))
    bad = [
        BatchRequest("x", {"model": "fake"}, url="/v1/chat/completions"),
        BatchRequest("x", {"model": "fake"}),
    ]
    with pytest.raises(InvalidRequestError, match="duplicate_custom_id"):
        await backend.submit(bad, ChunkTag("job", 0))
    with pytest.raises(ValueError, match="at least one request"):
        await backend.submit([], ChunkTag("job", 0))
    closed = OpenAIBatchBackend("http://127.0.0.1:9/v1", "k")
    with pytest.raises(ProviderConnectionError):
        await closed.poll(BatchHandle("openai", "batch_x"))
    await closed.aclose()


def test_the_key_comes_from_the_environment_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from kagura.errors import AuthenticationError, ConfigurationError

    monkeypatch.delenv("KAGURA_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        OpenAIBatchBackend()
    OpenAIBatchBackend("http://127.0.0.1:1/v1")  # a local server needs no key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-bad key\n")
    with pytest.raises(ConfigurationError, match="malformed") as info:
        OpenAIBatchBackend()
    assert "sk-bad" not in str(info.value)


async def test_a_handle_survives_a_trip_through_the_ledger(
    backend: OpenAIBatchBackend, clock: ManualClock
) -> None:
    import json

    from kagura.core.llm.batches import BatchHandle

    handle = await backend.submit(_requests(2), ChunkTag("job", 7))
    stored = json.loads(json.dumps(handle.to_dict()))
    again = BatchHandle.from_dict(stored)
    assert again == handle
    clock.advance(500)
    assert (await backend.poll(again)).succeeded == 2
    with pytest.raises(ValueError, match="not a BatchHandle"):
        BatchHandle.from_dict({"batch_id": "x"})
