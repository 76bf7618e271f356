"""Download many URLs concurrently with asyncio, at most `limit` at a time, retrying failures."""

import asyncio
import random


async def fetch(url: str) -> bytes:
    """Pretend to download `url` (a stand-in for an HTTP client call)."""
    await asyncio.sleep(random.uniform(0.01, 0.05))
    return f"contents of {url}".encode()


async def fetch_with_retry(url: str, attempts: int = 3) -> bytes:
    """Retry with exponential backoff: 0.1 s, 0.2 s, 0.4 s..."""
    for attempt in range(attempts):
        try:
            return await fetch(url)
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


async def download_all(urls: list[str], limit: int = 5) -> list[bytes]:
    """Download every URL with a semaphore bounding concurrency; results keep the input order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(url: str) -> bytes:
        async with semaphore:
            return await fetch_with_retry(url)

    return await asyncio.gather(*(one(url) for url in urls))


if __name__ == "__main__":
    pages = asyncio.run(download_all([f"https://example.com/page/{i}" for i in range(20)]))
    print(len(pages), "pages downloaded")
