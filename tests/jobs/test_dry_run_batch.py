"""``kagura run --dry-run --via batch|auto``: the estimate at each model's Batch API price (the online one
kept for comparison), the batches it would make and the plan auto would take; nothing is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kagura.cli.app import app
from kagura.testing import FakeLLMServer

PRICES = {"cheap": {"input": 1.0, "output": 2.0, "batch": 0.5}, "full": {"input": 3.0, "output": 4.0}}


def _write(tmp: Path, models: list[str]) -> Path:
    requests = tmp / f"{'-'.join(sorted(set(models)))}.jsonl"
    requests.write_text(
        "".join(
            json.dumps({"custom_id": f"q{i}", "model": m, "prompt": f"hello {i} " * (i + 1)}) + "\n"
            for i, m in enumerate(models)
        )
    )
    (tmp / "prices.json").write_text(json.dumps(PRICES))
    return requests


def _dry_run(requests: Path, base_url: str, *extra: str) -> dict[str, Any]:
    args = ["run", str(requests), "--out", str(requests.with_suffix(".out")), "--base-url", base_url,
            "--api-key", "test", "--prices", str(requests.with_name("prices.json")), "--dry-run", "--json",
            *extra]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


@pytest.fixture
async def server() -> Any:
    async with FakeLLMServer() as started:
        yield started


async def test_batch_prices_each_model_at_its_discount_and_keeps_the_online_figures(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    models = ["cheap", "full"] * 5
    mixed = _write(tmp_path, models)
    online = _dry_run(mixed, server.base_url, "--rpm", "60")
    batch = _dry_run(mixed, server.base_url, "--rpm", "60", "--via", "batch", "--batch-size", "4")
    cheap = [
        {"custom_id": f"q{i}", "model": "cheap", "prompt": f"hello {i} " * (i + 1)} for i in range(0, 10, 2)
    ]
    only_cheap = tmp_path / "cheap.jsonl"
    only_cheap.write_text("".join(json.dumps(line) + "\n" for line in cheap))
    part = _dry_run(only_cheap, server.base_url)  # the cheap model's share of the online cost
    assert batch["online_cost_usd_estimate"] == online["cost_usd_estimate"]
    assert batch["online_cost_usd_worst_case"] == online["cost_usd_worst_case"]
    expected = online["cost_usd_estimate"] - part["cost_usd_estimate"] * (1 - 0.5)  # 'full' has no discount
    assert batch["cost_usd_estimate"] == pytest.approx(expected, abs=2e-6)
    worst = online["cost_usd_worst_case"] - part["cost_usd_worst_case"] * 0.5
    assert batch["cost_usd_worst_case"] == pytest.approx(worst, abs=2e-6)
    assert (batch["plan"], batch["batches_estimate"], batch["requests"]) == ("batch", 3, 10)  # 4 + 4 + 2
    assert batch["time_s_estimate"] == 24 * 3600 == batch["deadline_s"]
    assert batch["online_time_s_estimate"] == online["time_s_estimate"] == 10.0
    written = list(tmp_path.glob("*.out*"))  # noqa: ASYNC240 - a test reading its tmp dir
    assert server.stats.requests == 0 and not written  # nothing sent or written


async def test_all_at_the_batch_discount_costs_half(tmp_path: Path, server: FakeLLMServer) -> None:
    requests = _write(tmp_path, ["cheap"] * 6)
    batch = _dry_run(requests, server.base_url, "--via", "auto", "--deadline", "6h")
    assert batch["plan"] == "batch" and batch["cost_usd_estimate"] == pytest.approx(
        batch["online_cost_usd_estimate"] / 2, abs=1e-6
    )
    assert batch["time_s_estimate"] == 6 * 3600


async def test_auto_with_no_time_for_a_batch_plans_online_at_the_online_price(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    requests = _write(tmp_path, ["cheap"] * 10)
    # online at 60 rpm: 1.5 x 10 s + 2 s margin = 17 s, more than the 10 s deadline: auto goes online now
    plan = _dry_run(requests, server.base_url, "--rpm", "60", "--via", "auto", "--deadline", "10s")
    assert (plan["plan"], plan["batches_estimate"]) == ("online", 0)
    assert plan["cost_usd_estimate"] == plan["online_cost_usd_estimate"]
    assert plan["time_s_estimate"] == 10.0
