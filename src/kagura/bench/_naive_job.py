"""The job script most code starts with, for ``kagura bench jobs``: ``asyncio.Semaphore`` + the ``openai``
SDK + a retry loop honouring ``Retry-After``, appending each answer to the output. No ledger: a restart
runs everything again.

    python -m kagura.bench._naive_job REQUESTS.jsonl OUT.jsonl BASE_URL CONCURRENCY
"""

from __future__ import annotations

import asyncio
import json
import sys

__all__ = ["main"]


async def _run(requests: str, out: str, base_url: str, concurrency: int) -> dict[str, int]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="naive", max_retries=0, timeout=60.0)
    semaphore = asyncio.Semaphore(concurrency)
    tally = {"requests": 0, "http_429": 0, "failed": 0}
    with open(requests, encoding="utf-8") as handle:  # noqa: ASYNC230 - the naive script, as written
        rows = [json.loads(line) for line in handle if line.strip()]

    async def one(row: dict[str, str], sink: object) -> None:
        async with semaphore:
            for _ in range(50):
                tally["requests"] += 1
                try:
                    answer = await client.chat.completions.create(
                        model="fake", messages=[{"role": "user", "content": row["prompt"]}]
                    )
                except openai.RateLimitError as exc:
                    tally["http_429"] += 1
                    ms = exc.response.headers.get("retry-after-ms")
                    await asyncio.sleep(
                        float(ms) / 1000 if ms else float(exc.response.headers.get("retry-after") or 1)
                    )
                    continue
                line = {
                    "custom_id": row["custom_id"],
                    "response": {"status_code": 200, "body": answer.model_dump()},
                }
                sink.write(json.dumps(line) + "\n")  # type: ignore[attr-defined]
                return
            tally["failed"] += 1

    with open(out, "a", encoding="utf-8") as sink:  # noqa: ASYNC230 - the naive script, as written
        await asyncio.gather(*(one(row, sink) for row in rows))
    await client.close()
    return tally


def main() -> None:
    requests, out, base_url, concurrency = sys.argv[1:5]
    print(json.dumps(asyncio.run(_run(requests, out, base_url, int(concurrency)))))


if __name__ == "__main__":
    main()
