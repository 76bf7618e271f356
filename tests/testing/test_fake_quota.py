"""The fake server's provider-style quota: token buckets per API key, 429s, x-ratelimit-* headers, stats.

Bucket arithmetic is asserted on the server's injectable clock (a number the test moves), never on wall time;
requests go over real HTTP on loopback through the ``openai`` client.
"""

from __future__ import annotations

import asyncio
import weakref

import aiohttp
import openai
import pytest

from kagura.testing import FakeLLMServer, Quota, format_reset


class ManualClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_clients: weakref.WeakKeyDictionary[FakeLLMServer, dict[str, openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


async def _chat(server: FakeLLMServer, key: str = "k", text: str = "hi", **extra: object) -> tuple[int, dict]:
    """(status, headers) of one chat request made with the openai SDK (no SDK retries)."""
    per_key = _clients.setdefault(server, {})  # one client per server and key: fast, and no stale loops
    client = per_key.get(key)
    if client is None:
        client = per_key[key] = openai.AsyncOpenAI(base_url=server.base_url, api_key=key, max_retries=0)
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="fake",
            messages=[{"role": "user", "content": text}],
            **extra,  # type: ignore[arg-type]
        )
        return raw.status_code, dict(raw.headers)
    except openai.APIStatusError as exc:
        return exc.status_code, dict(exc.response.headers)


async def test_request_bucket_admits_burst_then_429_with_exact_retry_after() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_rpm=60, quota_burst=2, clock=clock) as server:
        first, second, third = [await _chat(server) for _ in range(3)]
        assert first[0] == second[0] == 200
        assert first[1]["x-ratelimit-limit-requests"] == "60"
        assert first[1]["x-ratelimit-remaining-requests"] == "1"
        assert first[1]["x-ratelimit-reset-requests"] == "1s"  # one request back at 1 per second
        assert second[1]["x-ratelimit-remaining-requests"] == "0"
        assert second[1]["x-ratelimit-reset-requests"] == "2s"
        status, headers = third
        assert status == 429
        assert headers["retry-after-ms"] == "1000" and headers["retry-after"] == "1"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        clock.advance(0.25)
        status, headers = await _chat(server)
        assert (status, headers["retry-after-ms"], headers["retry-after"]) == (429, "750", "1")
        clock.advance(0.75)
        assert (await _chat(server))[0] == 200  # exactly one refilled request
        assert (await _chat(server))[0] == 429
        assert server.stats.over_quota == 3
        assert server.stats.admitted == 3
        assert server.stats.requests == 6
        assert server.stats.faults_injected == 0


async def test_buckets_are_per_api_key() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_rpm=30, quota_burst=1, clock=clock) as server:
        assert (await _chat(server, key="alice"))[0] == 200
        assert (await _chat(server, key="alice"))[0] == 429
        assert (await _chat(server, key="bob"))[0] == 200  # bob has his own bucket
        status, headers = await _chat(server, key="alice")
        assert (status, headers["retry-after-ms"]) == (429, "2000")  # 30 RPM: one every 2 s


async def test_default_burst_is_one_second_of_the_rate() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_rpm=1200, clock=clock) as server:
        statuses = [(await _chat(server))[0] for _ in range(21)]
        assert statuses == [200] * 20 + [429]  # 1,200 RPM enforced as 20 per second
        clock.advance(0.05)  # 1/20 s: one more request
        assert [(await _chat(server))[0] for _ in range(2)] == [200, 429]
        assert Quota(rpm=30).request_capacity == 1  # at least one request
        assert Quota(rpm=0.5).request_capacity == 1  # fractional rates work


async def test_tokens_charge_estimate_then_settle_with_real_usage() -> None:
    clock = ManualClock()
    # 600 TPM -> 10 tokens per second, bucket of 10 tokens; the responder answers one token.
    async with FakeLLMServer(quota_tpm=600, clock=clock, responder=lambda messages: "ok") as server:
        status, headers = await _chat(server, text="x" * 40)  # 10 prompt tokens + 1 completion token
        assert status == 200
        assert headers["x-ratelimit-limit-tokens"] == "600"
        assert headers["x-ratelimit-remaining-tokens"] == "0"  # 10 - 11 = -1 after settlement
        assert headers["x-ratelimit-reset-tokens"] == "1.1s"
        assert "x-ratelimit-limit-requests" not in headers  # no request quota configured
        status, headers = await _chat(server, text="x" * 4)  # 1 token: the bucket is in debt
        assert (status, headers["retry-after-ms"], headers["retry-after"]) == (429, "200", "1")
        clock.advance(0.2)
        assert (await _chat(server, text="x" * 4))[0] == 200
        assert server.stats.tokens_per_second == {0: 11 + 2}


async def test_max_tokens_is_charged_on_admission_and_refunded() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_tpm=6000, clock=clock, responder=lambda messages: "ok") as server:
        # bucket: 100 tokens. The estimate (1 + 90) fits; a second such request does not, until the refund.
        status, headers = await _chat(server, text="abcd", max_tokens=90)
        assert status == 200
        assert headers["x-ratelimit-remaining-tokens"] == "98"  # 100 - 91 + (91 - 2) refunded
        status, _ = await _chat(server, text="abcd", max_tokens=99)  # needs 100, has 98
        assert status == 429
        clock.advance(0.02)  # 100 tokens per second: two more tokens
        assert (await _chat(server, text="abcd", max_tokens=99))[0] == 200


async def test_request_larger_than_the_token_bucket_passes_when_full_then_pays_its_debt() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_tpm=60, clock=clock, responder=lambda messages: "ok") as server:
        # bucket of 1 token per second; a 5-token prompt can never "fit", so it passes on a full bucket
        assert (await _chat(server, text="x" * 20))[0] == 200  # level 1 - 6 = -5
        status, headers = await _chat(server, text="x" * 4)
        assert (status, headers["retry-after-ms"]) == (429, "6000")  # back to 1 token at 1 token/s
        clock.advance(6)
        assert (await _chat(server, text="x" * 4))[0] == 200


async def test_headers_can_be_switched_off_while_the_quota_holds() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_rpm=60, quota_burst=1, quota_headers=False, clock=clock) as server:
        status, headers = await _chat(server)
        assert status == 200 and not any(h.startswith("x-ratelimit") for h in headers)
        status, headers = await _chat(server)
        assert status == 429 and headers["retry-after"] == "1"
        assert not any(h.startswith("x-ratelimit") for h in headers)


async def test_no_quota_no_headers() -> None:
    async with FakeLLMServer() as server:
        status, headers = await _chat(server)
        assert status == 200 and not any(h.startswith("x-ratelimit") for h in headers)
        assert server.stats.admitted == 1 and server.stats.over_quota == 0


async def test_quota_changes_at_run_time_by_method_and_over_http() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_rpm=600, clock=clock) as server:  # burst 10
        assert [(await _chat(server))[0] for _ in range(3)] == [200] * 3  # 7 left
        server.set_quota(rpm=120)  # burst now 2: what is left is cut down to it
        assert [(await _chat(server))[0] for _ in range(3)] == [200, 200, 429]
        status, headers = await _chat(server)
        assert status == 429 and headers["x-ratelimit-limit-requests"] == "120"
        assert headers["retry-after-ms"] == "500"
        root = server.base_url.removesuffix("/v1")
        async with aiohttp.ClientSession() as session:
            async with session.post(root + "/_kagura/quota", json={"rpm": None, "tpm": 60}) as r:
                assert r.status == 200
                assert await r.json() == {"rpm": None, "tpm": 60, "burst": None, "headers": True}
            async with session.post(root + "/_kagura/quota", json={"rpm": -1}) as r:
                assert r.status == 400 and "rpm" in (await r.json())["error"]["message"]
            async with session.post(root + "/_kagura/quota", json={"bogus": 1}) as r:
                assert r.status == 400
            async with session.get(root + "/_kagura/stats") as r:
                stats = await r.json()
        assert stats["quota"] == {"rpm": None, "tpm": 60, "burst": None, "headers": True}
        assert stats["over_quota"] == 2 and stats["admitted"] == 5
        assert server.quota == Quota(tpm=60)


async def test_admitted_per_second_counts_admissions_by_second_since_start_or_reset() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_rpm=120, quota_burst=2, clock=clock) as server:
        for _ in range(3):
            await _chat(server)  # 2 admitted, 1 over
        clock.advance(1.0)  # 2 requests back
        for _ in range(3):
            await _chat(server)
        clock.advance(1.5)
        await _chat(server)
        assert server.stats.admitted_per_second == {0: 2, 1: 2, 2: 1}
        assert server.stats.over_quota == 2
        root = server.base_url.removesuffix("/v1")
        async with aiohttp.ClientSession() as session:
            async with session.get(root + "/_kagura/stats") as r:
                assert (await r.json())["admitted_per_second"] == {"0": 2, "1": 2, "2": 1}
        server.reset_stats()
        clock.advance(0.5)
        await _chat(server)
        assert server.stats.admitted_per_second == {0: 1}


async def test_embeddings_count_against_the_same_key() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_rpm=60, quota_burst=1, clock=clock) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        await client.embeddings.create(model="e", input="hello")
        with pytest.raises(openai.RateLimitError):
            await client.embeddings.create(model="e", input="hello")
        assert (await _chat(server))[0] == 429
        await client.close()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.0004, "1ms"), (0.02, "20ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s"),
     (61.25, "1m1.25s"), (3600, "1h0m0s")],
)  # fmt: skip
def test_format_reset_writes_durations_as_openai_does(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_bad_quotas_raise_value_error() -> None:
    for kwargs in ({"rpm": 0}, {"rpm": -5}, {"tpm": float("nan")}, {"rpm": float("inf")}, {"burst": 2},
                   {"rpm": 60, "burst": 0.5}):  # fmt: skip
        with pytest.raises(ValueError):
            Quota(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Quota(rpm="60")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rpm"):
        FakeLLMServer(quota_rpm=-1)


@pytest.mark.looptime
async def test_default_clock_is_the_event_loop_clock() -> None:
    async with FakeLLMServer(quota_rpm=6, quota_burst=1) as server:  # one request per 10 s
        assert (await _chat(server))[0] == 200
        status, headers = await _chat(server)
        assert (status, headers["retry-after"]) == (429, "10")
        await asyncio.sleep(float(headers["retry-after-ms"]) / 1000)  # virtual time
        assert (await _chat(server))[0] == 200


async def test_streamed_answers_carry_the_headers_and_settle_tokens() -> None:
    clock = ManualClock()
    async with FakeLLMServer(quota_tpm=6000, clock=clock, responder=lambda messages: "a b c") as server:
        status, headers = await _chat(server, text="abcd", stream=True)  # 1 prompt + 2 completion tokens
        assert status == 200
        assert headers["x-ratelimit-remaining-tokens"] == "97"
        assert server.stats.tokens_per_second == {0: 3}
