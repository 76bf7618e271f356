"""The fake OpenAI-compatible server, exercised over real HTTP (aiohttp client and the openai SDK)."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from kagura.testing import FakeLLMServer, Faults, default_answer, fake_embedding


def _root(server: FakeLLMServer) -> str:
    return server.base_url.removesuffix("/v1")


async def test_serves_chat_completions_through_the_openai_sdk(fake_llm_server: FakeLLMServer) -> None:
    client = openai.AsyncOpenAI(base_url=fake_llm_server.base_url, api_key="k", max_retries=0)
    completion = await client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hello"}]
    )
    assert completion.choices[0].message.content == "fake answer: hello"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert fake_llm_server.received[0]["messages"] == [{"role": "user", "content": "hello"}]
    assert fake_llm_server.stats.requests == 1
    assert fake_llm_server.base_url.startswith("http://127.0.0.1:")


async def test_responder_sync_and_async() -> None:
    async def responder(messages: list[dict]) -> str:
        return "async:" + messages[-1]["content"]

    async with FakeLLMServer(responder=responder) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        c = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
        assert c.choices[0].message.content == "async:q"
        server.responder = lambda messages: "sync"
        c = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
        assert c.choices[0].message.content == "sync"


async def test_stream_sends_sse_deltas(fake_llm_server: FakeLLMServer) -> None:
    client = openai.AsyncOpenAI(base_url=fake_llm_server.base_url, api_key="k", max_retries=0)
    stream = await client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "a b"}], stream=True
    )
    deltas = [
        ch.choices[0].delta.content async for ch in stream if ch.choices and ch.choices[0].delta.content
    ]
    assert len(deltas) > 1
    assert "".join(deltas) == "fake answer: a b"


async def test_embeddings_are_deterministic_unit_vectors(fake_llm_server: FakeLLMServer) -> None:
    client = openai.AsyncOpenAI(base_url=fake_llm_server.base_url, api_key="k", max_retries=0)
    result = await client.embeddings.create(model="e", input=["x", "y", "x"])
    vectors = [d.embedding for d in result.data]
    assert vectors[0] == vectors[2] != vectors[1]
    assert len(vectors[0]) == 64
    assert abs(sum(v * v for v in vectors[0]) - 1.0) < 1e-9
    assert vectors[1] == pytest.approx(fake_embedding("y", 64))
    assert fake_llm_server.stats.embedding_requests == 1


async def test_counters_and_max_in_flight_over_http() -> None:
    gate = asyncio.Event()
    arrived = 0

    async def responder(messages: list[dict]) -> str:
        nonlocal arrived
        arrived += 1
        if arrived == 3:
            gate.set()
        await gate.wait()
        return "ok"

    async with FakeLLMServer(responder=responder) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        calls = [
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
            for i in range(3)
        ]
        await asyncio.gather(*calls)
        async with aiohttp.ClientSession() as session:
            async with session.get(_root(server) + "/_kagura/stats") as resp:
                stats = await resp.json()
        assert stats["requests"] == 3
        assert stats["max_in_flight"] == 3
        assert stats["in_flight"] == 0
        assert stats["completion_tokens"] == server.stats.completion_tokens > 0
        server.reset_stats()
        assert server.stats.requests == 0 and server.received == []


async def test_faults_every_nth_and_switch_over_http(fake_llm_server: FakeLLMServer) -> None:
    url = fake_llm_server.base_url + "/chat/completions"
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            _root(fake_llm_server) + "/_kagura/faults", json={"rate_limit_every": 2, "retry_after": 3}
        ) as r:
            assert r.status == 200
        statuses = []
        for _ in range(4):
            async with session.post(url, json=body) as r:
                statuses.append((r.status, r.headers.get("Retry-After")))
        assert statuses == [(200, None), (429, "3"), (200, None), (429, "3")]
        fake_llm_server.set_faults(Faults(server_error_every=1))
        async with session.post(url, json=body) as r:
            assert r.status == 500
        fake_llm_server.set_faults(Faults(malformed_every=1))
        async with session.post(url, json=body) as r:
            assert r.status == 200
            with pytest.raises(ValueError):
                await r.json()
        async with session.post(_root(fake_llm_server) + "/_kagura/faults", json={"nonsense": 1}) as r:
            assert r.status == 400


async def test_hang_is_released_on_close() -> None:
    server = await FakeLLMServer(faults=Faults(hang_every=1)).start()
    async with aiohttp.ClientSession() as session:
        pending = asyncio.ensure_future(
            session.post(server.base_url + "/chat/completions", json={"messages": []})
        )
        await server.wait_for_requests(1)
        assert not pending.done()
        await server.close()
        with pytest.raises(aiohttp.ClientError):
            resp = await pending
            resp.raise_for_status()


async def test_fail_next_scripts_exact_statuses(fake_llm_server: FakeLLMServer) -> None:
    fake_llm_server.fail_next(503, count=2, retry_after=1.5)
    async with aiohttp.ClientSession() as session:
        got = []
        for _ in range(3):
            async with session.post(
                fake_llm_server.base_url + "/chat/completions", json={"messages": []}
            ) as r:
                got.append(r.status)
        assert got == [503, 503, 200]  # the script is used up, then normal answers resume
    with pytest.raises(ValueError, match="HTTP error status"):
        fake_llm_server.fail_next(200)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="latency"):
        FakeLLMServer(latency=-1)
    with pytest.raises(ValueError, match="rate_limit_every"):
        Faults(rate_limit_every=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeLLMServer().base_url
    assert (
        default_answer([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == "fake answer: hi"
    )


async def test_scripted_responder_answers_in_order() -> None:
    from kagura.testing import scripted

    async with FakeLLMServer(responder=scripted(["first", "second"])) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        answers = []
        for _ in range(2):
            c = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
            answers.append(c.choices[0].message.content)
        assert answers == ["first", "second"]
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])


async def _post_statuses(server: FakeLLMServer, starts: list[float]) -> list[int]:
    """Status of one chat request launched at each virtual time in ``starts`` (all may overlap)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with aiohttp.ClientSession() as session:

        async def one(i: int, at: float) -> int:
            await asyncio.sleep(max(0.0, t0 + at - loop.time()))
            body = {"model": "m", "messages": [{"role": "user", "content": str(i)}]}
            async with session.post(server.base_url + "/chat/completions", json=body) as r:
                return r.status

        return await asyncio.gather(*(one(i, at) for i, at in enumerate(starts)))


@pytest.mark.looptime
async def test_every_nth_fault_counts_arrivals_when_requests_overlap() -> None:
    # 9 requests in flight at once, each taking 1 s: exactly requests 3, 6 and 9 are answered 429.
    async with FakeLLMServer(latency=1.0, faults=Faults(rate_limit_every=3)) as server:
        statuses = await _post_statuses(server, [0.01 * i for i in range(9)])
        assert [i + 1 for i, s in enumerate(statuses) if s == 429] == [3, 6, 9]
        assert server.stats.faults_injected == 3


@pytest.mark.looptime
async def test_every_nth_fault_with_staggered_overlapping_requests() -> None:
    # 40 requests arriving every 0.3 s, each taking 1 s (about 4 in flight): exactly every 4th faulted.
    async with FakeLLMServer(latency=1.0, faults=Faults(server_error_every=4)) as server:
        statuses = await _post_statuses(server, [0.3 * i for i in range(40)])
        assert [i + 1 for i, s in enumerate(statuses) if s == 500] == list(range(4, 41, 4))
        assert server.stats.max_in_flight >= 3  # they did overlap


@pytest.mark.looptime
async def test_fail_next_scripts_arrivals_not_completions() -> None:
    async with FakeLLMServer(latency=1.0) as server:
        server.fail_next(503, count=2)
        statuses = await _post_statuses(server, [0.0, 0.1, 0.2, 0.3])
        assert statuses == [503, 503, 200, 200]
