"""split_into_chunks: every item in exactly one chunk, order kept, no chunk over a limit, fewest cuts."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kagura.core.llm.batches import (
    ANTHROPIC_BATCH_LIMITS,
    OPENAI_BATCH_LIMITS,
    BatchRequest,
    ChunkLimits,
    OpenAIBatchBackend,
    split_into_chunks,
)

Item = tuple[int, int, int]  # (position, bytes, tokens)


@st.composite
def jobs(draw: st.DrawFn) -> tuple[list[Item], ChunkLimits]:
    limits = ChunkLimits(
        max_requests=draw(st.integers(1, 8)),
        max_bytes=draw(st.integers(1, 400)),
        max_tokens=draw(st.none() | st.integers(1, 300)),
    )
    sizes = st.integers(0, limits.max_bytes)
    tokens = st.integers(0, limits.max_tokens if limits.max_tokens is not None else 1000)
    rows = draw(st.lists(st.tuples(sizes, tokens), max_size=60))
    return [(i, b, t) for i, (b, t) in enumerate(rows)], limits


def _fits(chunk: list[Item], limits: ChunkLimits) -> bool:
    return (
        len(chunk) <= limits.max_requests
        and sum(b for _, b, _ in chunk) <= limits.max_bytes
        and (limits.max_tokens is None or sum(t for _, _, t in chunk) <= limits.max_tokens)
    )


@settings(max_examples=300, deadline=None)
@given(jobs())
def test_every_item_lands_in_exactly_one_chunk_in_order_within_limits(
    job: tuple[list[Item], ChunkLimits],
) -> None:
    items, limits = job
    chunks = list(split_into_chunks(iter(items), limits, size=lambda x: x[1], tokens=lambda x: x[2]))
    assert [item for chunk in chunks for item in chunk] == items  # each once, order kept
    assert all(chunk and _fits(chunk, limits) for chunk in chunks)
    for chunk, following in itertools.pairwise(chunks):  # greedy: a cut only where needed
        assert not _fits([*chunk, following[0]], limits)


def test_an_item_too_big_for_any_batch_is_refused_with_its_position() -> None:
    limits = ChunkLimits(max_requests=10, max_bytes=100, max_tokens=50)
    with pytest.raises(ValueError, match="item 1 takes 101 bytes"):
        list(split_into_chunks([1, 101], limits, size=lambda x: x))
    with pytest.raises(ValueError, match="item 0 enqueues 51 tokens"):
        list(split_into_chunks([51], limits, size=lambda x: 1, tokens=lambda x: x))


def test_provider_limits_and_bad_limits() -> None:
    assert (OPENAI_BATCH_LIMITS.max_requests, OPENAI_BATCH_LIMITS.max_bytes) == (50_000, 200 * 2**20)
    assert (ANTHROPIC_BATCH_LIMITS.max_requests, ANTHROPIC_BATCH_LIMITS.max_bytes) == (100_000, 256 * 2**20)
    with pytest.raises(ValueError, match="max_requests"):
        ChunkLimits(max_requests=0, max_bytes=1)


def test_a_job_splits_by_the_backends_encoded_sizes() -> None:
    backend = OpenAIBatchBackend("http://127.0.0.1:1/v1", "k")
    requests = [
        BatchRequest(f"r{i}", {"model": "m", "messages": [{"role": "user", "content": "x" * 50}]})
        for i in range(10)
    ]
    line = len(backend.encode(requests[0])) + 1
    limits = ChunkLimits(max_requests=4, max_bytes=3 * line)
    chunks = list(split_into_chunks(requests, limits, size=lambda r: len(backend.encode(r)) + 1))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]


def test_chunk_requests_keeps_each_chunk_under_the_token_cap_and_the_fake_accepts_them() -> None:
    from kagura.core.llm.batches import chunk_requests, estimate_tokens

    backend = OpenAIBatchBackend("http://127.0.0.1:1/v1", "k")
    requests = [BatchRequest(f"r{i}", {"model": "m", "max_tokens": 10,
                                       "messages": [{"role": "user", "content": "y" * (4 * i)}]})
                for i in range(20)]  # fmt: skip
    assert estimate_tokens(requests[3]) == 3 + 10
    chunks = list(chunk_requests(backend, requests, max_tokens=60))
    assert [r for c in chunks for r in c] == requests
    assert all(sum(estimate_tokens(r) for r in c) <= 60 for c in chunks)
    with pytest.raises(ValueError, match="item 19 enqueues 29 tokens"):
        list(chunk_requests(backend, requests, max_tokens=28))
