"""The fake Anthropic Message Batches, driven through the real ``anthropic`` SDK on a virtual clock."""

from __future__ import annotations

import pytest

from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer, ManualClock

anthropic = pytest.importorskip("anthropic")


def _requests(n: int, prefix: str = "q") -> list[dict]:
    return [
        {"custom_id": f"{prefix}{i}",
         "params": {"model": "claude-fake", "max_tokens": 16, "system": "be brief",
                    "messages": [{"role": "user", "content": f"question {i}"}]}}
        for i in range(n)
    ]  # fmt: skip


async def test_message_batch_runs_cancels_and_streams_results() -> None:
    clock = ManualClock()
    settings = BatchSettings(BatchTimings(in_progress=100, cancelling=5), clock=clock, fail_every=3)
    async with FakeLLMServer(batches=settings) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.base_url.removesuffix("/v1"), api_key="k", max_retries=0
        )
        batch = await client.messages.batches.create(requests=_requests(10))  # type: ignore[arg-type]
        assert batch.processing_status == "in_progress" and batch.request_counts.processing == 10
        clock.advance(50)
        batch = await client.messages.batches.retrieve(batch.id)
        assert (batch.request_counts.succeeded, batch.request_counts.errored) == (4, 1)
        assert batch.results_url is None
        with pytest.raises(anthropic.BadRequestError):  # the results route itself refuses too
            await client.get(f"/v1/messages/batches/{batch.id}/results", cast_to=object)
        batch = await client.messages.batches.cancel(batch.id)
        assert batch.processing_status == "canceling" and batch.cancel_initiated_at is not None
        clock.advance(10)
        batch = await client.messages.batches.retrieve(batch.id)
        assert batch.processing_status == "ended" and batch.request_counts.canceled == 5
        results = {r.custom_id: r.result async for r in await client.messages.batches.results(batch.id)}
        assert list(results) == [f"q{i}" for i in range(10)]
        kinds = [results[f"q{i}"].type for i in range(10)]
        assert kinds == ["succeeded", "succeeded", "errored", "succeeded", "succeeded"] + ["canceled"] * 5
        first = results["q0"]
        assert first.type == "succeeded" and first.message.content[0].text == "fake answer: question 0"  # type: ignore[union-attr]
        assert first.message.usage.input_tokens > 0  # type: ignore[union-attr]
        await client.close()


async def test_message_batches_expire_list_and_validate() -> None:
    clock = ManualClock()
    settings = BatchSettings(BatchTimings(in_progress=200, completion_window=100), clock=clock)
    async with FakeLLMServer(batches=settings) as server:
        client = anthropic.AsyncAnthropic(
            base_url=server.base_url.removesuffix("/v1"), api_key="k", max_retries=0
        )
        ids = [(await client.messages.batches.create(requests=_requests(4, f"b{i}_"))).id for i in range(3)]  # type: ignore[arg-type]
        listed = [b.id async for b in client.messages.batches.list(limit=2)]
        assert listed == ids[::-1]
        clock.advance(150)
        batch = await client.messages.batches.retrieve(ids[0])
        assert batch.processing_status == "ended" and batch.request_counts.expired == 2
        assert batch.request_counts.succeeded == 2
        types = [r.result.type async for r in await client.messages.batches.results(ids[0])]
        assert types == ["succeeded", "succeeded", "expired", "expired"]
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.batches.create(requests=_requests(1) * 2)  # type: ignore[arg-type]
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.batches.retrieve("msgbatch_missing")
        await client.close()
