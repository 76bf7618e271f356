"""One worker process of ``kagura bench shared``: calls the fake provider through an ``LLMClient``.

    python -m kagura.bench._shared_worker BASE_URL KEY --calls N | --seconds S --concurrency C
        [--rpm R] [--redis URL] [--start-at EPOCH]

Prints one JSON line: calls, failed, wall_s. ``--redis`` shares the budget (and the adaptive state) through
Redis; without it the worker enforces its budget alone, as every process did before shared budgets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from kagura.core.llm import LLMClient, LLMConfig


async def _main(args: argparse.Namespace) -> dict[str, float]:
    config = LLMConfig(
        model="fake", base_url=args.base_url, api_key=args.key, max_attempts=50, retry_max_delay=5.0,
        timeout=30.0, requests_per_minute=args.rpm, redis_url=args.redis or "",
    )  # fmt: skip
    counts = {"calls": 0, "failed": 0}
    async with LLMClient(config) as client:
        sdk_client = getattr(client.provider, "sdk_client", None)
        if sdk_client is not None:  # build the HTTP client before the start line, not on the first call
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
    print(json.dumps(asyncio.run(_main(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
