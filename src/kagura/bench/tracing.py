"""``kagura bench tracing``: what OpenTelemetry costs an LLM call on the client's CPU.

The same N calls (``LLMClient.complete`` -> openai SDK -> HTTP -> the fake server in its own process) with
telemetry off, then on with the OpenTelemetry SDK recording every span (a batch processor feeding an
exporter that drops them) and every metric (an in-memory reader), in alternating rounds; the client
process's CPU time per call is compared (the best round of each): ``end_to_end_overhead_pct``. On a
shared machine that difference is noisy, so the telemetry hooks of one call are also timed alone in a
tight loop and divided by the call's client CPU: ``tracing_overhead_pct``. Goal: tracing <= 5 % of a
call's client CPU. What the SDK itself needs for the same two spans and attributes (no context, no
metrics, nothing of ours) is ``sdk_floor_us_per_call``: the hooks cannot cost less than that.

    python -m kagura.bench.tracing [--quick] [--calls 400]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from kagura.bench._report import BenchRow
from kagura.core.llm import LLMClient, LLMConfig, LLMRequest, LLMResponse, Telemetry, Usage
from kagura.core.parallel import parallel_map
from kagura.testing import FakeLLMProcess

__all__ = ["run"]


def _recording_telemetry() -> tuple[Telemetry, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropping(SpanExporter):
        def __init__(self) -> None:
            self.exported = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.exported += len(spans)
            return SpanExportResult.SUCCESS

    exporter = Dropping()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    meter_provider = MeterProvider([InMemoryMetricReader()])
    return Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider), (
        tracer_provider,
        exporter,
    )


def _best_cpu_per_call(one: Callable[[], None], calls: int) -> float:
    """CPU seconds per ``one()`` in a tight loop of ``calls``, the best of 5 rounds."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(calls):
            one()
        best = min(best, (time.process_time() - start) / calls)
    return best


def _hooks_cpu(telemetry: Telemetry, calls: int = 2000) -> float:
    """CPU seconds the telemetry hooks of one successful one-attempt call take, alone (best of 5)."""
    request = LLMRequest(model="fake", prompt="hi")
    response = LLMResponse("ok", Usage(10, 5, cost_usd=0.001), model="fake", provider="openai",
                           finish_reason="stop")  # fmt: skip

    def one() -> None:
        trace = telemetry.call("openai", request, time.monotonic)
        with trace.span(), trace.attempt():
            pass
        trace.finish(response)

    return _best_cpu_per_call(one, calls)


def _sdk_floor_cpu(tracer_provider: Any, calls: int = 2000) -> float:
    """CPU seconds the SDK alone takes for the spans of one call (best of 5): the call's span and its
    attempt's child, with the attributes the hooks give them, and nothing else."""
    from opentelemetry import trace

    tracer, kind = tracer_provider.get_tracer("kagura.bench.floor"), trace.SpanKind.CLIENT
    base = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "fake"}
    call_attrs, attempt_attrs = {**base, "gen_ai.request.temperature": 0.0}, {**base, "kagura.attempt": 1}
    finish = {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5, "kagura.attempts": 1,
              "gen_ai.response.finish_reasons": ("stop",), "kagura.cost_usd": 0.001}  # fmt: skip

    def one() -> None:
        call = tracer.start_span("chat fake", kind=kind, attributes=call_attrs)
        parent = trace.set_span_in_context(call)
        tracer.start_span("chat fake #1", context=parent, kind=kind, attributes=attempt_attrs).end()
        call.set_attributes(finish)
        call.end()

    return _best_cpu_per_call(one, calls)


async def _round(client: LLMClient, prompts: list[str], concurrency: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    await parallel_map(client.call, prompts, max_concurrent=concurrency)
    return time.process_time() - cpu, time.perf_counter() - wall


async def run(
    latency: float = 0.0, quick: bool = False, full: bool = False, calls: int | None = None
) -> list[BenchRow]:
    """N calls (default 120; ``quick`` 60, ``full`` 1,000) at 10 concurrent, off/on in 3 rounds."""
    count = calls or (60 if quick else 1000 if full else 120)
    rounds, concurrency = 3, 10
    latency = min(latency, 0.01)
    try:
        telemetry_on, (tracer_provider, exporter) = _recording_telemetry()
    except ImportError:
        return []  # the OpenTelemetry SDK is not installed: nothing to measure
    off_cpu, on_cpu, off_wall, on_wall = [], [], [], []
    async with FakeLLMProcess(latency=latency) as server:
        config = LLMConfig(model="fake", base_url=server.base_url, api_key="bench")
        async with (
            LLMClient(config, telemetry=Telemetry(enabled=False)) as off,
            LLMClient(config, telemetry=telemetry_on) as on,
        ):
            warm = [f"warm-up {i}" for i in range(concurrency * 2)]
            await _round(off, warm, concurrency)
            await _round(on, warm, concurrency)
            for r in range(rounds):
                prompts = [f"round {r} question {i}" for i in range(count)]
                cpu, wall = await _round(off, prompts, concurrency)
                off_cpu.append(cpu)
                off_wall.append(wall)
                cpu, wall = await _round(on, prompts, concurrency)
                on_cpu.append(cpu)
                on_wall.append(wall)
    hooks_on, hooks_off = _hooks_cpu(telemetry_on), _hooks_cpu(Telemetry(enabled=False))
    floor = _sdk_floor_cpu(tracer_provider)
    tracer_provider.force_flush()
    tracer_provider.shutdown()
    per_call_off, per_call_on = min(off_cpu) / count, min(on_cpu) / count
    overhead = (per_call_on - per_call_off) / per_call_off if per_call_off > 0 else 0.0
    hooks = (hooks_on - hooks_off) / per_call_off if per_call_off > 0 else 0.0
    extra = {
        "latency_s": latency,
        "max_concurrent": concurrency,
        "rounds": rounds,
        "client_cpu_ms_per_call_off": round(per_call_off * 1000, 3),
        "client_cpu_ms_per_call_on": round(per_call_on * 1000, 3),
        "end_to_end_overhead_pct": round(overhead * 100, 2),
        "hooks_us_per_call": round((hooks_on - hooks_off) * 1e6, 1),
        "tracing_overhead_pct": round(hooks * 100, 2),
        "sdk_floor_us_per_call": round(floor * 1e6, 1),
        "sdk_floor_pct": round(floor / per_call_off * 100, 2) if per_call_off > 0 else 0.0,
        "spans_exported": exporter.exported,
        "goal": "tracing <= 5 % of a call's client CPU",
    }
    row = BenchRow(
        "llm calls: OpenTelemetry off vs on (client CPU)", count, min(off_wall), min(on_wall), extra=extra,
        checks=[("tracing_overhead_pct", "<=", 5.0)],
    )  # fmt: skip
    return [row]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    for row in asyncio.run(run(quick=args.quick, full=args.full, calls=args.calls)):
        print(f"{row.operation}: N={row.items}; " + ", ".join(f"{k}={v}" for k, v in row.extra.items()))
