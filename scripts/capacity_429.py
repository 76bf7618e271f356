"""Issue 19's capacity-429 check: the README's map when a provider refuses every 5th request at any rate.

    .venv/bin/python scripts/capacity_429.py [--retry-after 0.5] [--calls 200] [--limit 120]

Runs ``parallel_map(lambda p: call_llm(p, config), prompts, max_concurrent=20)`` against the fake server
(``kagura fake-llm --rate-limit-every 5 --retry-after S``, in process, latency 0.2 s) with adaptive control
off, then on (the default), and prints how many calls succeeded and in how long (at most ``--limit`` s).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from kagura.core.llm import LLMConfig, call_llm
from kagura.core.parallel import parallel_map
from kagura.testing import FakeLLMServer


async def _run(retry_after: float, calls: int, limit: float) -> None:
    async with FakeLLMServer(latency=0.2) as server:
        server.set_faults(rate_limit_every=5, retry_after=retry_after)
        for adaptive in (False, True):
            config = LLMConfig(
                model="fake", base_url=server.base_url, api_key=f"k-{adaptive}", adaptive=adaptive
            )
            done = 0

            async def one(prompt: str, config: LLMConfig = config) -> str:
                nonlocal done
                answer = await call_llm(prompt, config)
                done += 1
                return answer

            start = time.monotonic()
            prompts = [f"p{i}" for i in range(calls)]
            try:
                await asyncio.wait_for(
                    parallel_map(one, prompts, max_concurrent=20, return_exceptions=True), limit
                )
            except TimeoutError:
                pass
            took = time.monotonic() - start
            print(
                f"Retry-After {retry_after:g} s, adaptive={adaptive}: {done}/{calls} succeeded "
                f"in {took:.1f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retry-after", type=float, default=0.5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--limit", type=float, default=120.0)
    args = parser.parse_args()
    asyncio.run(_run(args.retry_after, args.calls, args.limit))


if __name__ == "__main__":
    main()
