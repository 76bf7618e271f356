"""The fake server's OpenAI Files and Batch API, driven through the real ``openai`` SDK on a virtual clock."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kagura.testing import BatchSettings, BatchTimings, FakeLLMServer, ManualClock
from kagura.testing._fake_batch_clock import progress_at


def _lines(n: int, *, model: str = "fake", prefix: str = "r") -> bytes:
    rows = [
        {"custom_id": f"{prefix}{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": model, "messages": [{"role": "user", "content": f"question {i}"}]}}
        for i in range(n)
    ]  # fmt: skip
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[openai.AsyncOpenAI]:
    settings = getattr(request, "param", {})
    timings = BatchTimings(validating=10, in_progress=100, finalizing=10)
    async with FakeLLMServer(batches=BatchSettings(timings, clock=clock, **settings)) as server:
        sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        sdk.server = server  # type: ignore[attr-defined]
        yield sdk
        await sdk.close()


async def _submit(client: openai.AsyncOpenAI, data: bytes, **metadata: str) -> str:
    file = await client.files.create(file=("in.jsonl", data), purpose="batch")
    batch = await client.batches.create(
        input_file_id=file.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata=metadata or None,
    )
    return batch.id


async def test_a_batch_moves_through_its_phases_on_the_clock(
    client: openai.AsyncOpenAI, clock: ManualClock
) -> None:
    batch_id = await _submit(client, _lines(10), job="j1", chunk="0")
    seen = []
    for step in (0, 9, 50, 51, 10, 1000):
        clock.advance(step)
        batch = await client.batches.retrieve(batch_id)
        assert batch.request_counts is not None
        seen.append((batch.status, batch.request_counts.completed))
    assert seen == [("validating", 0), ("validating", 0), ("in_progress", 4), ("finalizing", 10),
                    ("completed", 10), ("completed", 10)]  # fmt: skip
    assert batch.metadata == {"job": "j1", "chunk": "0"}
    assert batch.in_progress_at == batch.created_at + 10 and batch.completed_at == batch.created_at + 120
    assert batch.output_file_id is not None and batch.error_file_id is None
    lines = [json.loads(x) for x in (await client.files.content(batch.output_file_id)).text.splitlines()]
    assert [x["custom_id"] for x in lines] == [f"r{i}" for i in range(10)]
    first = lines[0]
    assert set(first) == {"id", "custom_id", "response", "error"} and first["error"] is None
    assert first["response"]["status_code"] == 200
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "fake answer: question 0"
    assert first["response"]["body"]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("client", [{"fail_every": 4}], indirect=True)
async def test_partial_errors_go_to_the_error_file(client: openai.AsyncOpenAI, clock: ManualClock) -> None:
    data = (
        _lines(8)
        + b"\n"
        + json.dumps(
            {"custom_id": "bad", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "fake"}}
        ).encode()
    )
    batch_id = await _submit(client, data)
    clock.advance(1000)
    batch = await client.batches.retrieve(batch_id)
    assert batch.status == "completed" and batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (6, 3)
    assert batch.error_file_id is not None
    errors = [json.loads(x) for x in (await client.files.content(batch.error_file_id)).text.splitlines()]
    assert [(e["custom_id"], e["response"]["status_code"]) for e in errors] == [
        ("r3", 500),
        ("r7", 500),
        ("bad", 400),
    ]


async def test_expiry_keeps_the_done_half(clock: ManualClock) -> None:
    timings = BatchTimings(in_progress=200, completion_window=100)
    async with FakeLLMServer(batches=BatchSettings(timings, clock=clock)) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        batch_id = await _submit(client, _lines(10))
        clock.advance(150)
        batch = await client.batches.retrieve(batch_id)
        assert batch.status == "expired" and batch.expired_at == batch.created_at + 100
        assert batch.request_counts is not None and batch.request_counts.completed == 5
        assert batch.output_file_id is not None and batch.error_file_id is not None
        done = (await client.files.content(batch.output_file_id)).text.splitlines()
        left = [json.loads(x) for x in (await client.files.content(batch.error_file_id)).text.splitlines()]
        assert len(done) == 5 and [x["custom_id"] for x in left] == [f"r{i}" for i in range(5, 10)]
        assert {x["error"]["code"] for x in left} == {"batch_expired"} and left[0]["response"] is None
        await client.close()


async def test_cancel_keeps_finished_work(client: openai.AsyncOpenAI, clock: ManualClock) -> None:
    batch_id = await _submit(client, _lines(10))
    clock.advance(40)  # 30 s into 100 s of work: 3 done
    cancelling = await client.batches.cancel(batch_id)
    assert cancelling.status in ("cancelling", "cancelled")
    clock.advance(500)
    batch = await client.batches.retrieve(batch_id)
    assert batch.status == "cancelled" and batch.request_counts is not None
    assert batch.request_counts.completed == 3
    assert batch.error_file_id is not None
    left = (await client.files.content(batch.error_file_id)).text.splitlines()
    assert len(left) == 7 and json.loads(left[0])["error"]["code"] == "batch_cancelled"
    with pytest.raises(openai.ConflictError):
        await client.batches.cancel(batch_id)


@pytest.mark.parametrize("client", [{"enqueued_token_limit": 60}], indirect=True)
async def test_enqueued_token_limit_fails_new_batches(client: openai.AsyncOpenAI, clock: ManualClock) -> None:
    first = await client.batches.retrieve(await _submit(client, _lines(10)))  # 10 x 3 tokens
    assert first.status == "validating"
    second = await client.batches.retrieve(await _submit(client, _lines(15, prefix="s")))
    assert second.status == "failed" and second.errors is not None and second.errors.data is not None
    assert second.errors.data[0].code == "token_limit_exceeded"
    other_model = await client.batches.retrieve(await _submit(client, _lines(10, model="other")))
    assert other_model.status == "validating"  # the limit is per model
    clock.advance(1000)  # the first batches finish: their tokens leave the queue
    third = await client.batches.retrieve(await _submit(client, _lines(15, prefix="t")))
    assert third.status == "validating"


async def test_an_invalid_input_file_fails_the_batch_with_line_numbers(client: openai.AsyncOpenAI) -> None:
    line = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}'
    data = line + b"\nnot json\n" + line
    batch = await client.batches.retrieve(await _submit(client, data))
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data is not None
    assert [(e.code, e.line) for e in batch.errors.data] == [
        ("invalid_json_line", 2),
        ("duplicate_custom_id", 3),
    ]


async def test_list_paginates_newest_first(client: openai.AsyncOpenAI) -> None:
    ids = [await _submit(client, _lines(1), chunk=str(i)) for i in range(5)]
    first = await client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    everything = [b.id async for b in await client.batches.list(limit=2)]  # the SDK follows `after`
    assert everything == ids[::-1]
    files = await client.files.list(purpose="batch")
    assert len(files.data) == 5 and all(f.filename == "in.jsonl" for f in files.data)
    assert (await client.files.retrieve(files.data[0].id)).bytes == len(_lines(1))


async def test_unknown_ids_and_bad_requests_are_http_errors(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        await client.batches.retrieve("batch_missing")
    with pytest.raises(openai.NotFoundError):
        await client.files.content("file-missing")
    with pytest.raises(openai.BadRequestError):
        await client.batches.create(
            input_file_id="x", endpoint="/v1/chat/completions", completion_window="1h"
        )  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        await client.batches.list(limit=0)


def test_progress_is_a_pure_function_of_the_clock() -> None:
    timings = BatchTimings(validating=1, in_progress=10, finalizing=1, cancelling=2)
    assert progress_at(0, 0, 4, timings).status == "validating"
    assert progress_at(6, 0, 4, timings).done == 2
    assert progress_at(12, 0, 4, timings).status == "completed"
    cancelled = progress_at(20, 0, 4, timings, cancel_at=3.5)
    assert (cancelled.status, cancelled.done) == ("cancelled", 1)
    assert progress_at(4, 0, 4, timings, cancel_at=3.5).status == "cancelling"
    with pytest.raises(ValueError, match="in_progress"):
        BatchTimings(in_progress=-1)
    with pytest.raises(ValueError, match="fail_every"):
        BatchSettings(fail_every=0)


async def test_embedding_batches_answer_like_the_online_endpoint(
    client: openai.AsyncOpenAI, clock: ManualClock
) -> None:
    row = {"custom_id": "e0", "method": "POST", "url": "/v1/embeddings",
           "body": {"model": "emb", "input": ["a", "b"], "dimensions": 8}}  # fmt: skip
    file = await client.files.create(file=("e.jsonl", json.dumps(row).encode()), purpose="batch")
    batch = await client.batches.create(
        input_file_id=file.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    clock.advance(1000)
    batch = await client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.output_file_id is not None
    [line] = [json.loads(x) for x in (await client.files.content(batch.output_file_id)).text.splitlines()]
    online = await client.embeddings.create(model="emb", input=["a", "b"], dimensions=8)
    assert [d["embedding"] for d in line["response"]["body"]["data"]] == [d.embedding for d in online.data]


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(0, 50),
    phases=st.tuples(*[st.floats(0, 100) for _ in range(4)]),
    window=st.floats(1, 300),
    cancel=st.none() | st.floats(0, 300),
    times=st.lists(st.floats(0, 400), min_size=2, max_size=8),
)
def test_progress_only_moves_forward(total: int, phases: tuple[float, ...], window: float,
                                     cancel: float | None, times: list[float]) -> None:  # fmt: skip
    timings = BatchTimings(*phases, completion_window=window)
    order = ["validating", "in_progress", "finalizing", "cancelling", "completed", "expired", "cancelled"]
    seen = [progress_at(t, 0.0, total, timings, cancel) for t in sorted(times)]
    assert all(0 <= p.done <= total for p in seen)
    assert [p.done for p in seen] == sorted(p.done for p in seen)  # results never disappear
    for before, after in itertools.pairwise(seen):
        if before.terminal:
            assert (after.status, after.done) == (before.status, before.done)  # an ended batch stays ended
        else:
            assert order.index(after.status) >= order.index(before.status) or after.status == "cancelling"
    if seen[-1].status == "completed":
        assert seen[-1].done == total
