"""``kagura fake-llm`` serves real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import sys

import openai


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
