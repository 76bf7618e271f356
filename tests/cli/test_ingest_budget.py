"""``kagura ingest --budget-usd``: the client's spend cap over the run's media descriptions."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from kagura.cli.app import app
from kagura.testing import FakeLLMServer

runner = CliRunner()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (8 + i, 8), (40 * i, 90, 200)).save(root / f"p{i}.png")
    return root


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """The fake server on its own event loop in a thread (the CLI runs its own loop)."""
    loop = asyncio.new_event_loop()
    fake = FakeLLMServer()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(fake.close())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield fake
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def _ingest(photos: Path, tmp_path: Path, server: FakeLLMServer, *extra: str) -> object:
    flags = ["--store", str(tmp_path / "s.db"), "--json", "--model", "vision", "--base-url", server.base_url]
    return runner.invoke(app, ["ingest", str(photos), *flags, "--api-key", "k", *extra])


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_MODEL", "KAGURA_PRICES", "KAGURA_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def test_a_budget_without_a_price_refuses_to_start(
    photos: Path, tmp_path: Path, server: FakeLLMServer
) -> None:
    result = _ingest(photos, tmp_path, server, "--budget-usd", "1")
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "needs a price for 'vision'" in result.output  # type: ignore[attr-defined]
    assert server.stats.requests == 0 and not (tmp_path / "s.db").exists()


def test_a_budget_offline_is_a_usage_error(photos: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(photos), "--store", str(tmp_path / "s.db"), "--offline",
                                 "--budget-usd", "1"])  # fmt: skip
    assert result.exit_code == 2 and "--budget-usd caps LLM calls" in result.output


def test_the_cap_holds_over_the_descriptions(
    photos: Path, tmp_path: Path, server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"vision": {"input": 1.0, "output": 1.0}}), encoding="utf-8")
    monkeypatch.setenv("KAGURA_PRICES", str(prices))
    result = _ingest(photos, tmp_path, server, "--budget-usd", "0")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]  # the refused files are listed
    report = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert len(report["failed"]) == 3 and all("BudgetExceededError" in f["reason"] for f in report["failed"])
    assert server.stats.requests == 0  # nothing was sent past the cap
    enough = _ingest(photos, tmp_path, server, "--budget-usd", "10", "--redescribe")
    assert enough.exit_code == 0, enough.output  # type: ignore[attr-defined]
    assert server.stats.requests == 3
