"""AnthropicBatchBackend on the fake server: the same chunk lifecycle as OpenAI's, via Message Batches."""

from __future__ import annotations

import pytest

from kagura.core.llm import Usage
from kagura.core.llm.batches import AnthropicBatchBackend, BatchHandle, BatchRequest, ChunkTag
from kagura.core.llm.providers._anthropic_wire import to_anthropic_params
from kagura.errors import InvalidRequestError, ProviderConnectionError
from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer, ManualClock

pytest.importorskip("anthropic")


def _requests(n: int, prefix: str = "r") -> list[BatchRequest]:
    return [
        BatchRequest(
            f"{prefix}{i}",
            {
                "model": "claude-fake",
                "max_tokens": 32,
                "messages": [{"role": "system", "content": "terse"}, {"role": "user", "content": f"q {i}"}],
            },
        )
        for i in range(n)
    ]


async def test_submit_poll_results_and_cancel() -> None:
    clock = ManualClock()
    settings = BatchSettings(BatchTimings(in_progress=100), clock=clock, fail_every=4)
    async with FakeLLMServer(batches=settings) as server:
        backend = AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "sk-ant-test")
        handle = await backend.submit(_requests(8), ChunkTag("job", 0))
        assert handle.provider == "anthropic" and handle.request_count == 8
        [batch] = server.batches.message_batches.values()
        assert batch.lines[0].body["messages"][0] == {"role": "system", "content": "terse"}
        assert (await backend.poll(handle)).state == "running"
        with pytest.raises(InvalidRequestError, match="has not ended"):
            [r async for r in backend.results(handle)]
        clock.advance(200)
        status = await backend.poll(handle)
        assert (status.state, status.succeeded, status.errored) == ("ended", 6, 2)
        results = [r async for r in backend.results(handle)]
        assert [r.outcome for r in results] == (["succeeded"] * 3 + ["errored"]) * 2
        first = results[0]
        assert first.body is not None and first.body["choices"][0]["message"]["content"] == "fake answer: q 0"
        assert first.usage == Usage(prompt_tokens=3, completion_tokens=4)
        assert results[3].status_code == 500 and results[3].error is not None
        other = await backend.submit(_requests(4, "c"), ChunkTag("job", 1))
        clock.advance(50)
        assert (await backend.cancel(other)).state in ("cancelling", "ended")
        clock.advance(10)
        status = await backend.poll(other)
        assert (status.provider_status, status.succeeded, status.canceled) == ("ended", 2, 2)
        assert [r.outcome async for r in backend.results(other)] == ["succeeded"] * 2 + ["canceled"] * 2
        await backend.aclose()


async def test_errors_and_request_conversion() -> None:
    async with FakeLLMServer() as server:
        backend = AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "k")
        with pytest.raises(InvalidRequestError, match="404"):
            await backend.poll(BatchHandle("anthropic", "msgbatch_missing"))
        with pytest.raises(ValueError, match="chat requests only"):
            await backend.submit([BatchRequest("e", {"input": "x"}, url="/v1/embeddings")], ChunkTag("j", 0))
        await backend.aclose()
    closed = AnthropicBatchBackend("http://127.0.0.1:9", "k")
    with pytest.raises(ProviderConnectionError):
        await closed.poll(BatchHandle("anthropic", "msgbatch_x"))
    await closed.aclose()
    params = to_anthropic_params(
        {
            "model": "m",
            "max_completion_tokens": 7,
            "temperature": 0.5,
            "stop": ["x"],
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        }
    )
    assert params == {
        "model": "m",
        "max_tokens": 7,
        "messages": [{"role": "user", "content": "u"}],
        "system": "s",
        "temperature": 0.5,
        "stop_sequences": ["x"],
    }


async def test_a_full_processing_queue_is_a_retryable_rate_limit() -> None:
    from kagura.errors import RateLimitedError

    clock = ManualClock()
    settings = BatchSettings(BatchTimings(in_progress=100), clock=clock, queued_request_limit=10)
    async with FakeLLMServer(batches=settings) as server:
        backend = AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "k")
        await backend.submit(_requests(8), ChunkTag("job", 0))
        with pytest.raises(RateLimitedError, match="processing queue"):
            await backend.submit(_requests(8, "s"), ChunkTag("job", 1))
        clock.advance(50)  # half of the first batch is done: 4 still queued
        await backend.submit(_requests(6, "s"), ChunkTag("job", 1))
        await backend.aclose()
