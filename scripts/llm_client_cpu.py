"""CPU milliseconds per LLM call spent in the calling process (the client side only), side by side.

N calls through ``LLMClient.complete`` to a :class:`~kagura.testing.FakeLLMProcess` (its own process,
latency 0), 32 at a time after 200 warm-up calls; prints one JSON line. Compare two checkouts in one run::

    for i in 1 2 3; do
      PYTHONPATH=/tmp/llm-base/src .venv/bin/python scripts/llm_client_cpu.py 2000
      .venv/bin/python scripts/llm_client_cpu.py 2000
      .venv/bin/python scripts/llm_client_cpu.py 2000 cap   # with a SpendCap (a checkout that has it)
    done
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import kagura
from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.parallel import parallel_map
from kagura.testing import FakeLLMProcess


async def main(calls: int, cap: bool) -> dict[str, Any]:
    async with FakeLLMProcess(latency=0.0) as server:
        config = LLMConfig(model="gpt-4o-mini", base_url=server.base_url, api_key="k", max_tokens=50)
        options: dict[str, Any] = {}
        if cap:
            from kagura.core.llm import SpendCap  # type: ignore[attr-defined]  # absent before the cap

            options["spend_cap"] = SpendCap(1e9)
        async with LLMClient(config, **options) as client:
            await parallel_map(lambda i: client.complete(f"warm {i}"), range(200), max_concurrent=32)
            cpu, wall = time.process_time(), time.perf_counter()
            await parallel_map(lambda i: client.complete(f"prompt {i}"), range(calls), max_concurrent=32)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "kagura": kagura.__file__,
        "spend_cap": cap,
        "calls": calls,
        "cpu_ms_per_call": round(1000 * cpu / calls, 3),
        "wall_s": round(wall, 2),
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(json.dumps(asyncio.run(main(n, len(sys.argv) > 2 and sys.argv[2] == "cap"))))
