"""``kagura bench quota``: kagura's rate control vs a naive semaphore+retry client, against a provider quota.

The quota-enforcing fake server runs in its own process (:class:`~kagura.testing.FakeLLMProcess`) and
answers 429 with ``Retry-After``/``retry-after-ms`` once an API key's token bucket is empty, as providers
do. Each scenario runs the same workload twice in one run, side by side, each client on its own API key
(so its own quota):

- **naive**: ``asyncio.Semaphore(C)`` + the ``openai`` SDK + a retry loop honouring ``Retry-After``
  (the client most code starts with);
- **kagura**: one :class:`~kagura.core.llm.LLMClient` driven at the same concurrency.

Each client talks to its own fake server process (one per client, so each server's counters are that
client's alone), and the clients of one scenario run **at the same time** on the same timeline (the
quota falls for both at once in d); only scenario a, which times a wall clock against its ideal, runs them
one after the other. A scenario of fixed length (b, b2, d) ends at its length: calls still waiting then
are cancelled, not drained (draining C calls at the quota's rate used to add C/rate seconds per client).
Each client is closed at the end of its scenario.

Scenarios (``--full`` sizes; the default shrinks them to about 15 s in all, ``--quick`` to
seconds):

a. known quota enforced per second: 300 calls, 1,200 RPM (20/s, burst 20), C=50, kagura told the budget;
b. unknown quota: 2 minutes of C=50 load at 600 RPM enforced, nothing configured (b2: the same against
   a server that sends no ``x-ratelimit-*`` headers, so only 429s teach);
c. mixed prompt sizes (25 to 1,000 tokens; the fake answer echoes the prompt) under a token quota
   (TPM), budget configured: 300 calls;
d. the quota falls mid-run (600 -> 300 RPM at half time), nothing configured.

Counted on the server: requests, 429s, requests admitted per second, tokens charged per second (after
settlement with the real usage). 429 times after a quota change are recorded on the client side.

    python -m kagura.bench.quota [--quick | --full] [--latency 0.15]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kagura.bench._report import BenchRow, quota_used
from kagura.core.llm import LLMClient, LLMConfig, LLMRequest, LLMResponse, OpenAICompatibleProvider
from kagura.core.parallel import RateLimiter
from kagura.errors import RateLimitedError
from kagura.testing import FakeLLMProcess

__all__ = ["Sizes", "run"]

TIMEOUT = 10.0
"""Seconds per HTTP request, both clients (the fake server answers in ``latency``; in a whole ``kagura
bench`` run a few of the naive client's requests in scenario c went unanswered and waited out 30 s)."""
Call = Callable[[str], Awaitable[object]]
Budget = tuple[int | None, int | None]  # (requests_per_minute, tokens_per_minute) told to kagura


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    known_calls: int = 300
    known_rpm: float = 1200
    known_burst: float = 20
    concurrency: int = 50
    unknown_seconds: float = 120.0
    unknown_rpm: float = 600
    warmup_seconds: float = 10.0
    tpm_calls: int = 300
    tpm: float = 300_000
    fall_seconds: float = 60.0
    fall_from_rpm: float = 600
    fall_to_rpm: float = 300
    recovery_seconds: float = 10.0

    @classmethod
    def default(cls) -> Sizes:
        """``kagura bench quota`` without a scale: about 15 s for all five scenarios, a part of the 90 s
        ``kagura bench`` takes (``--full`` runs the guide's sizes). d runs 6 s so that a second is left
        after its recovery window to measure the lowered quota's use."""
        return cls(known_calls=50, concurrency=20, unknown_seconds=3.0, warmup_seconds=1.0, tpm_calls=20,
                   fall_seconds=6.0, recovery_seconds=2.0)  # fmt: skip

    @classmethod
    def quick(cls) -> Sizes:
        return cls.default()  # already seconds: the smoke run checks the same scenarios


@dataclass
class Tally:
    """What one client did in one scenario (server counters plus client-side 429 times)."""

    wall_s: float = 0.0
    calls: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0
    admitted_per_second: dict[int, int] = field(default_factory=dict)
    tokens_per_second: dict[int, int] = field(default_factory=dict)
    limited_at: list[float] = field(default_factory=list)  # seconds since the start, client side
    errors: dict[str, int] = field(default_factory=dict)  # failed calls by exception type

    @property
    def share_429(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0


# -- the two clients ---------------------------------------------------------------------------------------
class _Counting(OpenAICompatibleProvider):
    """The real OpenAI-compatible provider, noting when a 429 came back (bench instrumentation)."""

    name: ClassVar[str] = "openai"

    def __init__(self, tally: Tally, start: float) -> None:
        super().__init__()
        self.tally, self.start = tally, start

    async def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            return await super().complete(request)
        except RateLimitedError:
            self.tally.limited_at.append(time.perf_counter() - self.start)
            raise


@asynccontextmanager
async def _kagura(base_url: str, key: str, tally: Tally, start: float, budget: Budget) -> AsyncIterator[Call]:
    config = LLMConfig(model="fake", base_url=base_url, api_key=key, max_attempts=50, retry_max_delay=5.0,
                       timeout=TIMEOUT, requests_per_minute=budget[0],
                       tokens_per_minute=budget[1])  # fmt: skip
    provider = _Counting(tally, start)
    async with LLMClient(config, provider=provider) as client:
        # Build the SDK client (and import the SDK) before the clock starts, as the naive client does:
        # made by the first call, it blocked the loop inside the measured time (seconds on a busy machine).
        provider.sdk_client(base_url, key)
        yield client.call


@asynccontextmanager
async def _naive(
    base_url: str, key: str, concurrency: int, tally: Tally, start: float
) -> AsyncIterator[Call]:
    """asyncio.Semaphore + openai SDK + retry that sleeps what Retry-After says (inside the semaphore)."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=TIMEOUT)
    semaphore = asyncio.Semaphore(concurrency)

    async def call(prompt: str) -> object:
        async with semaphore:
            for _ in range(50):
                try:
                    return await client.chat.completions.create(
                        model="fake", messages=[{"role": "user", "content": prompt}]
                    )
                except openai.RateLimitError as exc:
                    tally.limited_at.append(time.perf_counter() - start)
                    headers = exc.response.headers
                    ms = headers.get("retry-after-ms")
                    await asyncio.sleep(float(ms) / 1000 if ms else float(headers.get("retry-after") or 1))
            raise RateLimitedError("gave up after 50 attempts")

    async with client:
        yield call


# -- load shapes ---------------------------------------------------------------------------------------------
async def _one(call: Call, prompt: str, tally: Tally) -> None:
    """One call, counted once it ended (a call cancelled at the end of a timed scenario is not counted)."""
    try:
        await call(prompt)
    except Exception as exc:
        tally.failed += 1
        name = type(exc).__name__
        tally.errors[name] = tally.errors.get(name, 0) + 1
    tally.calls += 1


async def _batch(call: Call, prompts: list[str], concurrency: int, tally: Tally) -> None:
    """Every prompt once, ``concurrency`` workers pulling from one queue."""
    queue = list(reversed(prompts))

    async def worker() -> None:
        while queue:
            await _one(call, queue.pop(), tally)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _for(
    call: Call, seconds: float, concurrency: int, tally: Tally, prompt: Callable[[int], str]
) -> None:
    """``concurrency`` workers calling back to back for ``seconds``; what is still waiting then is cancelled
    (the scenario is over: its counters are read at its end, not after a drain at the quota's rate)."""
    counter = iter(range(1 << 62))
    running = True

    async def worker() -> None:
        while running:  # also stops a worker whose cancellation a call swallowed, at its next call
            await _one(call, prompt(next(counter)), tally)

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    try:
        await asyncio.wait(workers, timeout=seconds)
    finally:
        running = False
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def _read(server: FakeLLMProcess, tally: Tally) -> None:
    stats = await server.stats()
    tally.requests = int(stats["chat_requests"])
    tally.rate_limited = int(stats["over_quota"])
    tally.admitted_per_second = {int(k): int(v) for k, v in stats["admitted_per_second"].items()}
    tally.tokens_per_second = {int(k): int(v) for k, v in stats["tokens_per_second"].items()}


@dataclass
class Servers:
    """One fake server process per client (``naive``, ``kagura``): each one's counters are its client's."""

    by_client: dict[str, FakeLLMProcess]

    async def each(self, action: Callable[[FakeLLMProcess], Awaitable[object]]) -> None:
        await asyncio.gather(*(action(server) for server in self.by_client.values()))

    async def set_quota(self, **quota: Any) -> None:
        await self.each(lambda server: server.set_quota(**quota))


async def _both(
    servers: Servers,
    concurrency: int,
    drive: Callable[[Call, Tally], Awaitable[None]],
    budget: Budget,
    *,
    together: bool = True,
    during: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Tally]:
    """Run ``drive`` with the naive client and with kagura's, each against its own server (fresh API keys:
    fresh quota buckets): at the same time (``together``), else one after the other.

    ``during`` runs alongside (e.g. changing the quota of both servers) and must end with the clients.
    """
    tallies = {name: Tally() for name in servers.by_client}

    async def turn(name: str, start: float) -> None:
        server, tally = servers.by_client[name], tallies[name]
        key = f"{name}-{random.getrandbits(32):08x}"
        client = (
            _naive(server.base_url, key, concurrency, tally, start)
            if name == "naive"
            else _kagura(server.base_url, key, tally, start, budget)
        )
        async with client as call:
            began = time.perf_counter()
            await drive(call, tally)
            tally.wall_s = time.perf_counter() - began
            await _read(server, tally)

    await servers.each(lambda server: server.reset_stats())
    start = time.perf_counter()
    if together:
        await asyncio.gather(*(turn(name, start) for name in tallies), *([during()] if during else []))
    else:
        for name in tallies:
            await servers.by_client[name].reset_stats()
            await turn(name, time.perf_counter())
    return tallies


def _row(operation: str, items: int, tallies: dict[str, Tally], ideal: float | None, goal: str,
         metrics: Callable[[Tally], dict[str, Any]],
         checks: list[tuple[str, str, float]]) -> BenchRow:  # fmt: skip
    naive, kagura = tallies["naive"], tallies["kagura"]
    extra: dict[str, Any] = {"goal": goal}
    for name, tally in tallies.items():
        extra[name] = {
            "wall_s": round(tally.wall_s, 3),
            "calls": tally.calls,
            "failed": tally.failed,
            "requests": tally.requests,
            "http_429": tally.rate_limited,
            "share_429": round(tally.share_429, 4),
            **metrics(tally),
            **({"errors": dict(tally.errors)} if tally.errors else {}),
        }
    return BenchRow(operation, items, naive.wall_s, kagura.wall_s, ideal_s=ideal, extra=extra, checks=checks)


# -- the scenarios ---------------------------------------------------------------------------------------
async def _quota(servers: Servers, rpm: float | None = None, tpm: float | None = None,
                 burst: float | None = None, headers: bool = True) -> None:  # fmt: skip
    await servers.set_quota(rpm=rpm, tpm=tpm, burst=burst, headers=headers)


async def _known(servers: Servers, latency: float, s: Sizes) -> BenchRow:
    await _quota(servers, rpm=s.known_rpm, burst=s.known_burst)
    prompts = [f"question {i}" for i in range(s.known_calls)]
    tallies = await _both(
        servers, s.concurrency, lambda call, t: _batch(call, prompts, s.concurrency, t),
        (int(s.known_rpm), None), together=False,  # a wall clock against its ideal: each client alone
    )  # fmt: skip
    rate = s.known_rpm / 60
    ideal = max(0.0, s.known_calls - s.known_burst) / rate + latency
    # Told only the RPM, kagura's limiter keeps half of a second's burst in reserve (RateLimiter's default,
    # against network jitter): a fixed 0.5 s, 3.5 % of the ideal at the 300 calls but 30 % at the
    # default 50. At a size where that reserve is over 2 % of the ideal, the wall is held to the ideal of a
    # client that starts with that burst (the goal says so); at the size, to the provider's.
    burst = RateLimiter(requests_per_minute=s.known_rpm).burst or 1.0
    own_ideal = max(0.0, s.known_calls - burst) / rate + latency
    strict = (own_ideal - ideal) / ideal <= 0.02 or s.known_calls >= Sizes().known_calls
    limit = "wall_vs_ideal" if strict else "wall_vs_default_burst_ideal"
    goal = "<= 0.5% of requests 429, wall <= 1.05x ideal" + (
        ""
        if strict
        else f" (of a client starting with kagura's default burst of {burst:g}; --full: the "
        f"provider's {s.known_burst:g})"
    )
    return _row(
        f"a. known quota {s.known_rpm:g} RPM (burst {s.known_burst:g}), "
        f"{s.known_calls} calls, C={s.concurrency}",
        s.known_calls, tallies, ideal, goal,
        lambda t: {"wall_vs_ideal": round(t.wall_s / ideal, 3),
                   "wall_vs_default_burst_ideal": round(t.wall_s / own_ideal, 3)},
        [("kagura.share_429", "<=", 0.005), (f"kagura.{limit}", "<=", 1.05)],
    )  # fmt: skip


async def _unknown(servers: Servers, latency: float, s: Sizes, headers: bool = True) -> BenchRow:
    rate = s.unknown_rpm / 60
    # b2: half of b's length, but at least two whole seconds after the warm-up to measure the quota used
    seconds = s.unknown_seconds if headers else max(s.unknown_seconds / 2, s.warmup_seconds + 2)
    await _quota(servers, rpm=s.unknown_rpm, headers=headers)
    tallies = await _both(
        servers, s.concurrency,
        lambda call, t: _for(call, seconds, s.concurrency, t, _question),
        (None, None),
    )  # fmt: skip
    warm, end = int(s.warmup_seconds), int(seconds)
    label = "b." if headers else "b2. (no x-ratelimit headers: AIMD alone)"
    goal = f"<= 5% 429, >= 90% of quota used after {warm} s"
    checks = [("kagura.share_429", "<=", 0.05), ("kagura.quota_used_after_warmup", ">=", 0.9)]
    return _row(
        f"{label} unknown quota {s.unknown_rpm:g} RPM, {seconds:g} s, C={s.concurrency}",
        0, tallies, None, goal if headers else "none: an extra row beside b (issue 11 sets no goal for it)",
        lambda t: {"quota_used_after_warmup": round(quota_used(t.admitted_per_second, warm, end, rate), 3)},
        checks if headers else [],
    )  # fmt: skip


def _question(i: int) -> str:
    return f"question {i}"


def _mixed_prompt(i: int) -> str:
    sizes = (100, 400, 1600, 4000)  # characters: about 25 to 1,000 tokens
    return f"q{i} " + "x" * sizes[(i * 7919) % len(sizes)]


async def _tokens(servers: Servers, latency: float, s: Sizes) -> BenchRow:
    per_second = s.tpm / 60
    prompts = [_mixed_prompt(i) for i in range(s.tpm_calls)]
    await _quota(servers, tpm=s.tpm)
    tallies = await _both(
        servers, s.concurrency, lambda call, t: _batch(call, prompts, s.concurrency, t),
        (None, int(s.tpm)),
    )  # fmt: skip

    def metrics(t: Tally) -> dict[str, Any]:
        end = max(1, math.floor(t.wall_s))  # whole seconds, the last (partial) one left out
        window = min(10, end)
        peaks = [
            sum(t.tokens_per_second.get(x, 0) for x in range(a, a + window))
            for a in range(0, end - window + 1)
        ]
        return {
            "tpm_used": round(quota_used(t.tokens_per_second, 0, end, per_second), 3),
            "peak_10s_vs_quota": round(max(peaks, default=0) / (per_second * window), 3),
        }

    return _row(
        f"c. mixed prompt sizes (25-1,000 tokens) under {s.tpm:g} TPM, {s.tpm_calls} calls, "
        f"C={s.concurrency}", s.tpm_calls, tallies, None,
        "never over TPM after reconciliation (no 429), >= 90% of it used", metrics,
        [("kagura.http_429", "<=", 0), ("kagura.tpm_used", ">=", 0.9)],
    )  # fmt: skip


async def _falling(servers: Servers, latency: float, s: Sizes) -> BenchRow:
    drop_at = s.fall_seconds / 2

    async def lower() -> None:
        await asyncio.sleep(drop_at)
        await servers.set_quota(rpm=s.fall_to_rpm)

    await _quota(servers, rpm=s.fall_from_rpm)
    tallies = await _both(
        servers, s.concurrency,
        lambda call, t: _for(call, s.fall_seconds, s.concurrency, t, _question),
        (None, None), during=lower,
    )  # fmt: skip
    late = drop_at + s.recovery_seconds
    after = math.ceil(late)
    end = int(s.fall_seconds)

    def metrics(t: Tally) -> dict[str, Any]:
        after_drop = [x - drop_at for x in t.limited_at if x >= drop_at]
        return {
            "last_429_after_drop_s": round(max(after_drop), 2) if after_drop else 0.0,
            "http_429_after_recovery_window": sum(1 for x in t.limited_at if x >= late),
            "quota_used_after_recovery": round(
                quota_used(t.admitted_per_second, after, end, s.fall_to_rpm / 60), 3
            ),
        }

    return _row(
        f"d. quota falls {s.fall_from_rpm:g} -> {s.fall_to_rpm:g} RPM at {drop_at:g} s, C={s.concurrency}",
        0, tallies, None, f"recovers within {s.recovery_seconds:g} s, <= 5% 429", metrics,
        [("kagura.last_429_after_drop_s", "<=", s.recovery_seconds), ("kagura.share_429", "<=", 0.05)],
    )  # fmt: skip


async def run(
    latency: float = 0.15, quick: bool = False, full: bool = False, sizes: Sizes | None = None
) -> list[BenchRow]:
    """Every scenario, naive beside kagura, in one run: ``full`` is the issue's sizes (``Sizes()``,
    about five minutes), the default :meth:`Sizes.default`, ``quick`` :meth:`Sizes.quick`."""
    s = sizes or (Sizes.quick() if quick else Sizes() if full else Sizes.default())
    async with AsyncExitStack() as stack:  # one server per client, started together; scenarios set quotas
        started = await asyncio.gather(*(stack.enter_async_context(FakeLLMProcess(latency)) for _ in "ab"))
        servers = Servers(dict(zip(("naive", "kagura"), started, strict=True)))
        return [
            await _known(servers, latency, s),
            await _unknown(servers, latency, s),
            await _unknown(servers, latency, s, headers=False),
            await _tokens(servers, latency, s),
            await _falling(servers, latency, s),
        ]


def _print(rows: list[BenchRow]) -> None:
    for row in rows:
        print(row.operation, "| goal:", row.extra["goal"])
        for name in ("naive", "kagura"):
            print(f"  {name:7s}", ", ".join(f"{k}={v}" for k, v in row.extra[name].items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    _print(asyncio.run(run(args.latency, args.quick, args.full)))
