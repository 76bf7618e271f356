"""``kagura fake-llm --batch-*``: the command's batches follow its flags."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

from kagura.core.llm.batches import BatchRequest, ChunkTag, OpenAIBatchBackend


async def test_fake_llm_serves_batches_that_finish_as_its_flags_say() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kagura.cli", "fake-llm", "--latency", "0", "--port", "0",
        "--batch-seconds", "0", "--batch-fail-every", "2", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        assert match, line
        backend = OpenAIBatchBackend(match.group(0), "k")
        requests = [BatchRequest(f"r{i}", {"model": "fake", "messages": [{"role": "user", "content": "hi"}]})
                    for i in range(4)]  # fmt: skip
        handle = await backend.submit(requests, ChunkTag("cli-job", 0))
        status = await backend.poll(handle)  # 0 s in progress: done at once
        assert (status.provider_status, status.succeeded, status.errored) == ("completed", 2, 2)
        await backend.aclose()
    finally:
        proc.terminate()
        await proc.wait()


def test_bad_batch_flags_are_refused_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kagura.cli", "fake-llm", "--batch-seconds", "-1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--batch-seconds" in done.stderr and "Traceback" not in done.stderr
