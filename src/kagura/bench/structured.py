"""``kagura bench structured``: N structured extractions against a fake server answering broken JSON.

The fake server (its own process) breaks ``invalid_json_rate`` (10 %) of its structured answers. Two runs
of the same N extractions at the same concurrency, side by side:

- naive: ``response_format`` json_schema and ``json.loads`` of the answer, no validation, no repair;
- kagura: ``complete(..., schema=Model)``: validated, an invalid answer sent back with the error.

Measured: invalid results returned (re-validated independently; the goal is 0 for kagura), repairs against
the invalid answers the server sent (goal: repairs <= 1.15 x invalid answers), attempts priced (goal:
every attempt the server answered), and the dollar total against a hand computation from the server's own
usage log (goal: equal to the cent).

    python -m kagura.bench.structured [--quick | --full] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from kagura.bench._report import BenchRow
from kagura.core.llm import LLMClient, LLMConfig, PriceTable, track_usage
from kagura.core.parallel import parallel_map
from kagura.errors import StructuredOutputError
from kagura.testing import FakeLLMProcess

__all__ = ["run"]

MODEL = "gpt-4o-mini"  # a model of the shipped price table, so every attempt has a price
RATE = 0.1


def _invoice_model() -> Any:
    from pydantic import BaseModel, Field

    class LineItem(BaseModel):
        description: str
        quantity: int = Field(ge=1)
        unit_price: float = Field(ge=0)

    class Invoice(BaseModel):
        vendor: str
        invoice_number: str = Field(min_length=4)
        currency: str = Field(min_length=3, max_length=3)
        items: list[LineItem] = Field(min_length=1)

    return Invoice


def _hand_cost(log: list[dict[str, Any]], prices: PriceTable) -> float:
    price = prices.price(MODEL)
    assert price is not None
    cached_rate = price.input if price.cached_input is None else price.cached_input
    total = 0.0
    for row in log:
        cached = row["cached_input_tokens"]
        total += (row["input_tokens"] - cached) * price.input + cached * cached_rate
        total += row["output_tokens"] * price.output
    return total / 1e6


async def run(latency: float = 0.05, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """N = 1,000 extractions with ``full``, 300 by default, 200 with ``quick``; 50 concurrent, naive then
    kagura, in one run."""
    count = 200 if quick else 1000 if full else 300
    concurrency = 50
    latency = min(latency, 0.05)
    invoice = _invoice_model()
    documents = [
        f"Invoice #{i:05d} from ACME: {i % 7 + 1} widgets at {i % 13 + 2}.50 EUR" for i in range(count)
    ]
    prices = PriceTable.default()
    async with FakeLLMProcess(latency=latency, invalid_json_rate=RATE, history=None) as server:
        config = LLMConfig(model=MODEL, base_url=server.base_url, api_key="bench", max_attempts=3)
        async with LLMClient(config, prices=prices) as client:
            wanted = {"name": "Invoice", "schema": invoice.model_json_schema()}
            schema_format = {"type": "json_schema", "json_schema": wanted}
            sdk = client.provider.sdk_client(config.base_url, config.api_key)  # type: ignore[attr-defined]

            async def naive(doc: str) -> Any:
                answer = await sdk.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": doc}], response_format=schema_format
                )
                try:
                    return json.loads(answer.choices[0].message.content or "")
                except ValueError:
                    return None

            start = time.perf_counter()
            naive_results = await parallel_map(naive, documents, max_concurrent=concurrency)
            naive_s = time.perf_counter() - start
            await server.reset_stats()

            async def extract(doc: str) -> Any:
                response = await client.complete(doc, schema=invoice, max_repairs=3)
                return response

            start = time.perf_counter()
            with track_usage() as usage:
                results = await parallel_map(
                    extract, documents, max_concurrent=concurrency, return_exceptions=True
                )
            kagura_s = time.perf_counter() - start
            stats = await server.stats(usage_log=True)  # the whole log: history=None above

    def invalid(value: Any) -> bool:
        try:
            invoice.model_validate(value if isinstance(value, dict) else value.parsed.model_dump())
        except Exception:
            return True
        return False

    failed = sum(isinstance(r, StructuredOutputError) for r in results)
    returned = [r for r in results if not isinstance(r, BaseException)]
    repairs = sum(r.repairs for r in returned) + sum(
        r.attempts - 1 for r in results if isinstance(r, StructuredOutputError)
    )
    invalid_answers = int(stats["invalid_answers"])
    hand = _hand_cost(stats["usage_log"], prices)
    extra = {
        "latency_s": latency,
        "max_concurrent": concurrency,
        "invalid_json_rate": RATE,
        "naive_invalid_results": sum(invalid(r) for r in naive_results),
        "invalid_results": sum(invalid(r) for r in returned),
        "failed_after_repairs": failed,
        "invalid_answers": invalid_answers,
        "repairs": repairs,
        "repairs_per_invalid_answer": round(repairs / invalid_answers, 3) if invalid_answers else 0.0,
        "attempts_answered": int(stats["structured_answers"]),
        "attempts_priced": usage.calls if usage.cost_usd is not None else 0,
        "unpriced_attempts": int(stats["structured_answers"])
        - (usage.calls if usage.cost_usd is not None else 0),
        "cost_usd": round(usage.cost_usd or 0.0, 6),
        "hand_cost_usd": round(hand, 6),
        "cost_matches_to_the_cent": round(usage.cost_usd or -1.0, 2) == round(hand, 2),
        "cost_abs_diff_usd": abs((usage.cost_usd or 0.0) - hand),
        "goal": "0 invalid results; repairs <= 1.15 x invalid answers; every attempt priced",
    }
    row = BenchRow(
        f"structured extractions ({RATE:.0%} invalid JSON)", count, naive_s, kagura_s, extra=extra,
        checks=[("invalid_results", "<=", 0), ("repairs_per_invalid_answer", "<=", 1.15),
                ("unpriced_attempts", "<=", 0)],
    )  # fmt: skip
    return [row]


def _print(rows: list[BenchRow]) -> None:
    for row in rows:
        figures = ", ".join(f"{k}={v}" for k, v in row.extra.items() if k != "goal")
        print(
            f"{row.operation}: N={row.items} naive {row.serial_s:.2f}s kagura {row.parallel_s:.2f}s;",
            figures,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    _print(asyncio.run(run(args.latency, args.quick, args.full)))
