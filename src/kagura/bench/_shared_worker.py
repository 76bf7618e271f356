"""One worker process of ``kagura bench shared``: calls the fake provider through an ``LLMClient``.

    python -m kagura.bench._shared_worker BASE_URL

The process serves scenario after scenario (a fleet is started once, not once per scenario): it reads one
JSON command per line on stdin (``key``, ``calls`` or ``seconds``, ``concurrency``, ``rpm``, ``redis``,
``via``, ``cold``), sets the scenario up, prints ``{"ready": true}``, waits for the line ``go``, runs it and
prints one JSON line: calls, failed, wall_s. End of input ends the process.

``redis`` shares the budget (and the adaptive state) through Redis; without it the worker enforces its
budget alone, as every process did before shared budgets. ``via: "scheduler"`` sets the budget the other
documented way: ``parallel_map(lambda p: call_llm(p, config), prompts, limiters=[RateLimiter(rpm,
redis=URL, key=...)])`` with the client's defaults (3 attempts); ``cold``: the SDK client is not built
before the start line (a worker's first calls build it). A scenario of ``seconds`` ends at that time: calls
still waiting are cancelled, not drained.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kagura.core.llm import LLMClient, LLMConfig


def _say(data: dict[str, Any]) -> None:
    print(json.dumps(data), flush=True)


async def _line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


async def _go() -> None:
    """Say ready, then wait for the start line (every worker of the fleet starts at once)."""
    _say({"ready": True})
    if await _line() != "go":
        raise SystemExit(0)  # the parent went away


async def _via_scheduler(base_url: str, cmd: dict[str, Any]) -> dict[str, float]:
    from kagura.core.llm import call_llm
    from kagura.core.parallel import RateLimiter, parallel_map

    config = LLMConfig(model="fake", base_url=base_url, api_key=cmd["key"], timeout=30.0, redis_url="")
    limiter = (
        RateLimiter(cmd["rpm"], redis=cmd["redis"], key="bench:" + cmd["key"])
        if cmd.get("redis")
        else RateLimiter(cmd["rpm"])
    )
    prompts = [f"question {i}" for i in range(cmd["calls"])]
    await _go()
    start = time.perf_counter()
    results = await parallel_map(
        lambda p: call_llm(p, config), prompts, max_concurrent=cmd["concurrency"], limiters=[limiter],
        return_exceptions=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if limiter.shared is not None:
        await limiter.shared.close()
    failed = sum(isinstance(r, BaseException) for r in results)
    return {"calls": len(prompts), "failed": failed, "wall_s": round(wall, 3)}


async def _for(seconds: float, workers: Sequence[Callable[[], Awaitable[None]]], running: list[bool]) -> None:
    """Run the workers for ``seconds``, then stop them: each is cancelled, and ``running`` is cleared so
    that one whose cancellation a call swallowed still stops at its next call (seen once: a worker went on
    calling for minutes after a timed scenario's end)."""
    tasks = [asyncio.ensure_future(w()) for w in workers]
    try:
        await asyncio.wait(tasks, timeout=seconds)
    finally:
        running[0] = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _scenario(base_url: str, cmd: dict[str, Any]) -> dict[str, float]:
    if cmd.get("via") == "scheduler":
        return await _via_scheduler(base_url, cmd)
    config = LLMConfig(
        model="fake", base_url=base_url, api_key=cmd["key"], max_attempts=50, retry_max_delay=5.0,
        timeout=30.0, requests_per_minute=cmd.get("rpm"), redis_url=cmd.get("redis") or "",
    )  # fmt: skip
    counts = {"calls": 0, "failed": 0}
    async with LLMClient(config) as client:
        sdk_client = getattr(client.provider, "sdk_client", None)
        if sdk_client is not None and not cmd.get("cold"):  # build the HTTP client before the start line
            sdk_client(config.base_url, config.api_key)
        calls = cmd.get("calls") or 0
        todo = iter(range(calls)) if calls else iter(range(1 << 62))
        running = [True]

        async def worker() -> None:
            for i in todo:
                if not running[0]:
                    return
                try:
                    await client.call(f"question {i}")
                except Exception:
                    counts["failed"] += 1
                counts["calls"] += 1  # once it ended: a call cancelled at the end of a timed run is not

        await _go()
        start = time.perf_counter()
        workers = [worker for _ in range(cmd["concurrency"])]
        if calls:
            await asyncio.gather(*(w() for w in workers))
        else:
            await _for(float(cmd["seconds"]), workers, running)
        wall = time.perf_counter() - start
    return {**counts, "wall_s": round(wall, 3)}


async def _serve(base_url: str) -> None:
    while line := await _line():
        _say(await _scenario(base_url, json.loads(line)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    asyncio.run(_serve(parser.parse_args().base_url))


if __name__ == "__main__":
    main()
