"""The fake server's per-request history: bounded on request (``history``, ``kagura fake-llm``'s default),
counters exact either way, and the usage log sent over HTTP only when asked."""

from __future__ import annotations

import subprocess
import sys

import aiohttp
import pytest

from kagura.core.llm import LLMClient, LLMConfig
from kagura.testing import DEFAULT_HISTORY, FakeLLMProcess, FakeLLMServer, ServerStats


async def _calls(base_url: str, n: int) -> None:
    config = LLMConfig(model="fake", base_url=base_url, api_key="t", max_attempts=1)
    async with LLMClient(config) as client:
        for i in range(n):
            await client.complete(f"q{i}")


async def test_a_bounded_history_keeps_the_latest_requests_and_exact_counters() -> None:
    async with FakeLLMServer(history=3) as server:
        await _calls(server.base_url, 20)
        stats = server.stats
        assert stats.requests == stats.chat_requests == 20 and stats.completion_tokens > 0
        for log in (server.received, stats.request_times, stats.usage_log):
            assert 3 <= len(log) <= 6
        assert server.received[-1]["messages"][-1]["content"] == "q19"
        assert [row["number"] for row in stats.usage_log[-3:]] == [18, 19, 20]
        assert stats.request_times == sorted(stats.request_times)
        server.reset_stats()
        await _calls(server.base_url, 10)
        assert server.stats.requests == 10 and len(server.stats.usage_log) <= 6  # reset keeps the bound


async def test_the_default_in_process_server_keeps_everything() -> None:
    async with FakeLLMServer() as server:
        await _calls(server.base_url, 30)
        assert len(server.received) == len(server.stats.usage_log) == len(server.stats.request_times) == 30


async def test_stats_over_http_send_the_usage_log_only_when_asked() -> None:
    async with FakeLLMServer() as server:
        await _calls(server.base_url, 4)
        url = server.base_url.removesuffix("/v1") + "/_kagura/stats"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                counters = await response.json()
            async with session.get(url, params={"usage_log": "1"}) as response:
                full = await response.json()
            async with session.get(url, params={"usage_log": "maybe"}) as response:
                assert response.status == 400
    assert counters["chat_requests"] == 4 and "usage_log" not in counters and "history" not in counters
    assert [row["number"] for row in full["usage_log"]] == [1, 2, 3, 4]
    assert {k: v for k, v in full.items() if k != "usage_log"} == counters


async def test_fake_llm_process_keeps_a_bounded_history_by_default() -> None:
    async with FakeLLMProcess(history=2) as server:
        await _calls(server.base_url, 9)
        stats = await server.stats(usage_log=True)
        assert stats["chat_requests"] == 9 and 2 <= len(stats["usage_log"]) <= 4
        assert stats["usage_log"][-1]["number"] == 9
        assert "usage_log" not in await server.stats()
    async with FakeLLMProcess(history=None) as server:  # --full-history
        await _calls(server.base_url, 9)
        assert len((await server.stats(usage_log=True))["usage_log"]) == 9


def test_history_flags_and_values() -> None:
    from kagura.cli.fake_llm import DEFAULT_HISTORY as CLI_DEFAULT

    assert CLI_DEFAULT == DEFAULT_HISTORY
    for bad in (-1, True):
        with pytest.raises(ValueError, match="history"):
            ServerStats(history=bad)
        with pytest.raises(ValueError, match="history"):
            FakeLLMProcess(history=bad)
    result = subprocess.run(
        [sys.executable, "-m", "kagura.cli", "fake-llm", "--history", "-1"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "--history" in result.stderr and "Traceback" not in result.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "kagura.cli", "fake-llm", "--help"], capture_output=True, text=True
    ).stdout
    assert "--history" in help_text and "--full-history" in help_text
