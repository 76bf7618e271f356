"""The media row of ``kagura bench ray``: image descriptions from N Ray workers under one provider quota.

Every worker describes its batches' images through the LLM layer with the same ``LLMConfig``: one API key,
so one quota on the fake provider (its own process, enforcing ``rpm`` per second with a bucket of
``burst`` requests, answering 429 with ``Retry-After`` beyond it), and the budget told to kagura
(``requests_per_minute=rpm``). Side by side:

- **own budget**: each worker process enforces the budget alone, so N workers may spend N times it;
- **shared**: the same budget shared by every worker through Redis (``LLMConfig(redis_url=...)``).

Counted on the provider: requests, 429s, and requests admitted per second, from which the share of the
quota used is taken over the whole seconds of the run (its first and last, partial, seconds left out).
Checked in the store: every image indexed and described, each exactly once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kagura.bench._report import quota_used
from kagura.core.llm import LLMConfig
from kagura.core.memory import MultimodalRAG, RayEngine
from kagura.testing import FakeLLMProcess

__all__ = ["MediaRun", "MediaSizes", "describe_on_ray"]


@dataclass(frozen=True)
class MediaSizes:
    """How big the scenario is: ``images`` at ``rpm`` last ``images / (rpm / 60)`` seconds at quota."""

    images: int = 600
    workers: int = 4
    rpm: float = 1200
    burst: float = 20
    max_concurrent: int = 10
    """LLM calls in flight per worker (well above what the quota lets through)."""

    @property
    def rate(self) -> float:
        """The quota in requests per second."""
        return self.rpm / 60


@dataclass
class MediaRun:
    """What one ingest of the images did (provider side and store side)."""

    images: int
    wall_s: float
    requests: int
    rate_limited: int
    admitted: int
    admitted_per_second: dict[int, int]
    described: int
    lost: int
    failed: int

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0

    def quota_used(self, rate: float) -> float:
        """Share of the quota used over the run's whole seconds (first and last, partial, left out)."""
        seconds = sorted(s for s, n in self.admitted_per_second.items() if n)
        if len(seconds) < 3:
            return quota_used(self.admitted_per_second, seconds[0], seconds[-1] + 1, rate) if seconds else 0.0
        return quota_used(self.admitted_per_second, seconds[0] + 1, seconds[-1], rate)

    def metrics(self, rate: float) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 2),
            "requests": self.requests,
            "http_429": self.rate_limited,
            "share_429": round(self.share_429, 4),
            "quota_used": round(self.quota_used(rate), 3),
            "described_once": self.admitted == self.images == self.described,
            "lost": self.lost,
            "failed": self.failed,
        }


async def describe_on_ray(
    server: FakeLLMProcess, corpus: Path, store: Path, sizes: MediaSizes, *, key: str,
    redis_url: str | None, engine: RayEngine,
) -> MediaRun:  # fmt: skip
    """Ingest the images of ``corpus`` on ``engine`` (a Ray engine of ``sizes.workers`` workers) into a
    fresh ``store``, every description on API key ``key`` (its own quota on the server), the budget
    shared through ``redis_url`` (None: each worker alone)."""
    await server.set_quota(rpm=sizes.rpm, burst=sizes.burst)
    llm = LLMConfig(
        model="fake", base_url=server.base_url, api_key=key, requests_per_minute=int(sizes.rpm),
        redis_url=redis_url or "", max_attempts=20, retry_max_delay=5.0, timeout=60.0,
    )  # fmt: skip
    rag = MultimodalRAG(store, llm=llm)
    await server.reset_stats()
    started = time.perf_counter()
    await rag.load_directory(corpus, max_concurrent=sizes.max_concurrent, engine=engine)
    wall = time.perf_counter() - started
    stats = await server.stats()
    report = rag.last_report
    docs = rag.documents(corpus)
    rag.close()
    assert report is not None
    per_second = {int(k): int(v) for k, v in stats["admitted_per_second"].items()}
    return MediaRun(
        images=sizes.images,
        wall_s=wall,
        requests=int(stats["chat_requests"]),
        rate_limited=int(stats["over_quota"]),
        admitted=sum(per_second.values()),
        admitted_per_second=per_second,
        described=sum(d.described for d in docs),
        lost=sizes.images - len(docs),
        failed=len(report.failed),
    )
