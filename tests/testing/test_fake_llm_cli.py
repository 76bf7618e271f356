"""``kagura fake-llm`` serves real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
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
