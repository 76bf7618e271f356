"""``kagura fake-llm`` serves real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys

import openai
import pytest


async def test_fake_llm_command_serves_until_stopped() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kagura.cli", "fake-llm", "--latency", "0", "--port", "0",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        assert match, line
        client = openai.AsyncOpenAI(base_url=match.group(0), api_key="k", max_retries=0)
        c = await client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}])
        assert c.choices[0].message.content == "fake answer: hi"
    finally:
        proc.terminate()
        await proc.wait()


async def test_fake_llm_process_counters_and_faults_over_http() -> None:
    from kagura.core.llm import LLMConfig, call_llm
    from kagura.errors import ServerError
    from kagura.testing import FakeLLMProcess

    async with FakeLLMProcess(latency=0) as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="t", max_attempts=1)
        assert await call_llm("hi", config) == "fake answer: hi"
        stats = await server.stats()
        assert stats["requests"] == 1 and stats["completion_tokens"] > 0
        await server.set_faults(server_error_every=1)
        with pytest.raises(ServerError):
            await call_llm("hi", config)
        await server.reset_stats()
        assert (await server.stats())["requests"] == 0


async def test_fake_llm_process_enforces_and_changes_its_quota() -> None:
    from kagura.testing import FakeLLMProcess

    # one request per minute per key: the second request is over quota whatever the wall clock does
    async with FakeLLMProcess(latency=0, quota_rpm=1, quota_burst=1) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        raw = await client.chat.completions.with_raw_response.create(
            model="fake", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "1"
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}])
        assert int(info.value.response.headers["retry-after-ms"]) > 0
        stats = await server.stats()
        assert (stats["admitted"], stats["over_quota"]) == (1, 1)
        assert stats["quota"] == {"rpm": 1.0, "tpm": None, "burst": 1.0, "headers": True}
        with pytest.raises(ValueError, match="burst needs"):
            await server.set_quota(rpm=None)  # a burst of requests without a request rate
        assert await server.set_quota(rpm=None, burst=None) == {
            "rpm": None, "tpm": None, "burst": None, "headers": True
        }  # fmt: skip
        await client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}])
        await client.close()


async def test_fake_llm_without_quota_headers() -> None:
    from kagura.testing import FakeLLMProcess

    async with FakeLLMProcess(latency=0, quota_rpm=60, quota_headers=False) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        raw = await client.chat.completions.with_raw_response.create(
            model="fake", messages=[{"role": "user", "content": "hi"}]
        )
        assert not [h for h in raw.headers if h.startswith("x-ratelimit")]
        assert (await server.stats())["quota"]["headers"] is False
        await client.close()


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kagura.cli", "fake-llm", *args], capture_output=True, text=True, timeout=120
    )


def test_port_in_use_is_one_clear_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_cli("--port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0], result.stderr


def test_bad_quota_flag_is_a_usage_error_without_traceback() -> None:
    result = _run_cli("--quota-rpm", "-5")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--quota-rpm" in result.stderr


async def test_fake_llm_process_breaks_that_share_of_structured_answers() -> None:
    from kagura.core.llm import LLMConfig, call_llm
    from kagura.testing import FakeLLMProcess

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    async with FakeLLMProcess(latency=0, invalid_json_rate=0.5) as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="t", max_attempts=1)
        results = [await call_llm(f"q{i}", config, schema=schema, max_repairs=20) for i in range(20)]
        stats = await server.stats(usage_log=True)
    assert results == [{"n": 0}] * 20
    assert stats["structured_answers"] == 20 + stats["invalid_answers"]
    assert 5 <= stats["invalid_answers"] <= 40
    assert len(stats["usage_log"]) == stats["structured_answers"]


def test_bad_invalid_json_rate_is_a_usage_error() -> None:
    result = _run_cli("--invalid-json-rate", "1.5")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--invalid-json-rate" in result.stderr


async def test_fake_llm_process_speaks_anthropic() -> None:
    pytest.importorskip("anthropic")
    from kagura.core.llm import LLMClient, LLMConfig
    from kagura.testing import FakeLLMProcess

    async with FakeLLMProcess(latency=0) as server:
        config = LLMConfig(provider="anthropic", model="claude-haiku-4-5", base_url=server.anthropic_base_url,
                           api_key="sk-ant-t")  # fmt: skip
        async with LLMClient(config) as client:
            response = await client.complete("hi")
        stats = await server.stats(usage_log=True)
    assert response.text == "fake answer: hi" and response.provider == "anthropic"
    assert response.usage.cost_usd is not None  # claude-haiku-4-5 is in the shipped price table
    assert stats["messages_requests"] == 1 and stats["usage_log"][0]["route"] == "messages"
