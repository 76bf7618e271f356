"""One worker process of ``kagura bench shared``: calls the fake provider through an ``LLMClient``.

    python -m kagura.bench._shared_worker BASE_URL KEY --calls N | --seconds S --concurrency C
        [--rpm R] [--redis URL] [--start-at EPOCH] [--via client|scheduler] [--cold]

Prints one JSON line: calls, failed, wall_s. ``--redis`` shares the budget (and the adaptive state) through
Redis; without it the worker enforces its budget alone, as every process did before shared budgets.
``--via scheduler`` sets the budget the other documented way: ``parallel_map(lambda p: call_llm(p,
config), prompts, limiters=[RateLimiter(rpm, redis=URL, key=...)])`` with the client's defaults (3
attempts); ``--cold``: the SDK client is not built before the start line (a worker's first calls build it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from kagura.core.llm import LLMClient, LLMConfig


async def _via_scheduler(args: argparse.Namespace) -> dict[str, float]:
    from kagura.core.llm import call_llm
    from kagura.core.parallel import RateLimiter, parallel_map

    config = LLMConfig(model="fake", base_url=args.base_url, api_key=args.key, timeout=30.0, redis_url="")
    limiter = (
        RateLimiter(args.rpm, redis=args.redis, key="bench:" + args.key)
        if args.redis
        else RateLimiter(args.rpm)
    )
    delay = args.start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    start = time.perf_counter()
    prompts = [f"question {i}" for i in range(args.calls)]
    results = await parallel_map(
        lambda p: call_llm(p, config), prompts, max_concurrent=args.concurrency, limiters=[limiter],
        return_exceptions=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    failed = sum(isinstance(r, BaseException) for r in results)
    return {"calls": len(prompts), "failed": failed, "wall_s": round(wall, 3)}


async def _main(args: argparse.Namespace) -> dict[str, float]:
    if args.via == "scheduler":
        return await _via_scheduler(args)
    config = LLMConfig(
        model="fake", base_url=args.base_url, api_key=args.key, max_attempts=50, retry_max_delay=5.0,
        timeout=30.0, requests_per_minute=args.rpm, redis_url=args.redis or "",
    )  # fmt: skip
    counts = {"calls": 0, "failed": 0}
    async with LLMClient(config) as client:
        sdk_client = getattr(client.provider, "sdk_client", None)
        if sdk_client is not None and not args.cold:  # build the HTTP client before the start line
            sdk_client(config.base_url, config.api_key)
        delay = args.start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        start = time.perf_counter()
        end = start + args.seconds if args.seconds else None
        todo = iter(range(args.calls)) if args.calls else iter(range(1 << 62))

        async def worker() -> None:
            for i in todo:
                if end is not None and time.perf_counter() >= end:
                    return
                counts["calls"] += 1
                try:
                    await client.call(f"question {i}")
                except Exception:
                    counts["failed"] += 1

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        wall = time.perf_counter() - start
    return {**counts, "wall_s": round(wall, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("key")
    parser.add_argument("--calls", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rpm", type=int, default=None)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--via", choices=["client", "scheduler"], default="client")
    parser.add_argument("--cold", action="store_true")
    print(json.dumps(asyncio.run(_main(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
