"""``kagura run --via batch|auto`` as a real subprocess against the fake server process (its Batch API on a
fast batch clock): every item once, 0 online calls, half the online price; kill -9 and resume; the deadline's
cutover to online; an expired batch's half kept. Counts come from the fake server's counters and batches."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from kagura.testing import FakeLLMProcess

KEY = "sk-test-never-echoed-123456"
PRICES = {"fake": {"input": 1.0, "output": 2.0, "batch": 0.5}}


def _write(tmp: Path, n: int) -> tuple[Path, Path]:
    requests = tmp / "in.jsonl"
    requests.write_text(
        "".join(json.dumps({"custom_id": f"q{i}", "prompt": f"hello {i}"}) + "\n" for i in range(n))
    )
    prices = tmp / "prices.json"
    prices.write_text(json.dumps(PRICES))
    return requests, prices


def _args(requests: Path, out: Path, server: FakeLLMProcess, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kagura.cli", "run", str(requests), "--out", str(out), "--base-url",
            server.base_url, "--model", "fake", "--api-key", KEY, "--prices",
            str(requests.with_name("prices.json")), "--json", *extra]  # fmt: skip


async def _run(args: list[str]) -> tuple[int, dict[str, Any], str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    summary = json.loads(out.decode()) if out.strip() else {}
    return proc.returncode, summary, err.decode()


async def _batches(server: FakeLLMProcess) -> list[dict[str, Any]]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(server.base_url + "/batches?limit=100") as response:
            response.raise_for_status()
            return list((await response.json())["data"])


async def _chat_requests(server: FakeLLMProcess) -> int:
    stats = await server.stats()
    return int(stats["chat_requests"])


def _ids(out: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]


def _lines(out: Path) -> dict[str, dict[str, Any]]:
    return {json.loads(x)["custom_id"]: json.loads(x) for x in out.read_text().splitlines()}


def _ledger_rows(out: Path) -> list[tuple[str, str, float]]:
    """(custom_id, via, cost) of every done item, each cost checked against its tokens and way."""
    with sqlite3.connect(str(out) + ".ledger.db") as conn:
        rows = conn.execute(
            "SELECT custom_id, via, cost_usd, prompt_tokens, completion_tokens FROM job_items"
            " WHERE state = 'done'"
        ).fetchall()
    for _, via, cost, prompt, completion in rows:
        price = PRICES["fake"]
        online = (prompt * price["input"] + completion * price["output"]) * 1e-6
        assert cost == pytest.approx(online * (price["batch"] if via == "batch" else 1.0))
    return [(row[0], row[1], row[2]) for row in rows]


async def test_via_batch_runs_every_item_in_batches_at_half_the_online_price(tmp_path: Path) -> None:
    n = 30
    requests, _ = _write(tmp_path, n)
    async with FakeLLMProcess(batch_args=("--batch-seconds", "1")) as server:
        out = tmp_path / "batch.jsonl"
        args = _args(requests, out, server, "--via", "batch", "--batch-size", "7")
        code, summary, stderr = await _run(args)
        assert code == 0, stderr
        assert (summary["done"], summary["pending"], summary["requests"]) == (n, 0, 0)
        assert await _chat_requests(server) == 0  # not one online call
        assert len(await _batches(server)) == 5 == summary["batches_created"]  # 30 items, 7 per batch
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))
        assert summary["via"]["batch"]["items"] == n and summary["via"]["online"]["items"] == 0
        assert {via for _, via, _ in _ledger_rows(out)} == {"batch"}

        online_out = tmp_path / "online.jsonl"
        code, online, _ = await _run(_args(requests, online_out, server))
        assert code == 0 and online["requests"] == n
        assert summary["cost_usd"] == pytest.approx(online["cost_usd"] / 2)
        batch_lines = _lines(out)
        online_lines = _lines(online_out)
        for custom_id, line in batch_lines.items():  # the same output format, the same answers
            assert line.keys() == online_lines[custom_id].keys() and line["error"] is None
            assert line["response"]["status_code"] == 200
            answer = line["response"]["body"]["choices"][0]["message"]["content"]
            assert answer == online_lines[custom_id]["response"]["body"]["choices"][0]["message"]["content"]


async def test_kill_9_during_submit_and_poll_then_resume_makes_each_chunk_once(tmp_path: Path) -> None:
    n, size = 60, 6
    requests, _ = _write(tmp_path, n)
    out = tmp_path / "out.jsonl"
    async with FakeLLMProcess(batch_args=("--batch-seconds", "8")) as server:
        args = _args(requests, out, server, "--via", "batch", "--batch-size", str(size))
        # kill -9 x5: mid-submit (2, then 5 of 10 batches made), once all 10 exist, then twice while polling
        for made, after in ((2, 0.0), (5, 0.0), (n // size, 0.0), (n // size, 2.0), (n // size, 2.0)):
            proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
            while len(await _batches(server)) < made:  # noqa: ASYNC110 - polling another process's server
                await asyncio.sleep(0.005)
            await asyncio.sleep(after)
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
        code, summary, stderr = await _run(args)
        assert code == 0, stderr
        assert (summary["done"], summary["failed"], summary["pending"]) == (n, 0, 0)
        batches = await _batches(server)
        assert len(batches) == n // size  # batches created = chunks: none twice
        assert sum(b["request_counts"]["completed"] for b in batches) == n
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))  # 0 lost, 0 duplicated
        assert await _chat_requests(server) == 0
        code, summary, _ = await _run(args)  # nothing left: nothing made or sent
        assert code == 0 and summary["batches_created"] == 0 and len(await _batches(server)) == n // size


async def test_auto_with_a_batch_slower_than_the_deadline_cuts_over_and_pays_nothing_twice(
    tmp_path: Path,
) -> None:
    n, deadline = 40, 12.0
    requests, _ = _write(tmp_path, n)
    out = tmp_path / "out.jsonl"
    async with FakeLLMProcess(batch_args=("--batch-seconds", "20")) as server:  # the batch alone: 20 s
        args = _args(requests, out, server, "--via", "auto", "--deadline", f"{deadline:g}s", "--rpm", "1200")
        code, summary, stderr = await _run(args)
        assert code == 0, stderr
        assert (summary["done"], summary["pending"]) == (n, 0) and summary["cut_over"]
        via_batch, via_online = summary["via"]["batch"]["items"], summary["via"]["online"]["items"]
        assert via_batch > 0 and via_online > 0 and via_batch + via_online == n
        assert await _chat_requests(server) == via_online  # online: only what the batch did not answer
        assert sum(b["request_counts"]["completed"] for b in await _batches(server)) == via_batch
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))
        rows = _ledger_rows(out)
        assert sorted(via for _, via, _ in rows) == ["batch"] * via_batch + ["online"] * via_online
        with sqlite3.connect(str(out) + ".ledger.db") as conn:
            first, last_done = conn.execute(
                "SELECT (SELECT MIN(since) FROM job_batches), MAX(updated_at) FROM job_items"
            ).fetchone()
        assert last_done <= first + deadline  # every item done by the deadline


async def test_a_batch_that_expires_half_done_keeps_its_half_and_runs_the_rest_online(tmp_path: Path) -> None:
    n = 20
    requests, _ = _write(tmp_path, n)
    out = tmp_path / "out.jsonl"
    async with FakeLLMProcess(batch_args=("--batch-seconds", "8", "--batch-window", "4")) as server:
        # 9 s: after the 4 s the batch took, no time for another one and the online run after it
        code, summary, stderr = await _run(_args(requests, out, server, "--via", "batch", "--deadline", "9s"))
        assert code == 0, stderr
        assert summary["done"] == n
        [batch] = await _batches(server)
        assert batch["status"] == "expired" and batch["request_counts"]["completed"] == n // 2
        assert summary["via"]["batch"]["items"] == n // 2 == summary["via"]["online"]["items"]
        assert await _chat_requests(server) == n // 2
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))


async def test_a_batch_that_expires_half_done_with_time_left_rebatches_the_rest_once(tmp_path: Path) -> None:
    n = 20
    requests, _ = _write(tmp_path, n)
    out = tmp_path / "out.jsonl"
    # a batch takes 0.4 s per request: 20 expire at 4.5 s with 11 done, the other 9 take 3.6 s
    fake = ("--batch-seconds", "0", "--batch-request-seconds", "0.4", "--batch-window", "4.5")
    async with FakeLLMProcess(batch_args=fake) as server:
        code, summary, stderr = await _run(_args(requests, out, server, "--via", "auto", "--deadline", "1h"))
        assert code == 0, stderr
        assert summary["done"] == n and summary["requests"] == 0 and await _chat_requests(server) == 0
        first, second = sorted(await _batches(server), key=lambda b: b["created_at"])
        assert first["status"] == "expired" and first["request_counts"]["completed"] == 11
        assert second["status"] == "completed" and second["request_counts"]["total"] == n - 11
        assert summary["via"]["batch"]["items"] == n and summary["rebatched"] == n - 11
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))


async def test_two_batch_workers_on_one_ledger_pay_each_item_once(tmp_path: Path) -> None:
    n = 40
    requests, _ = _write(tmp_path, n)
    out = tmp_path / "out.jsonl"
    async with FakeLLMProcess(batch_args=("--batch-seconds", "2")) as server:
        args = _args(requests, out, server, "--via", "batch", "--batch-size", "5")
        results = await asyncio.gather(_run(args), _run(args))
        assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))
        batches = await _batches(server)
        with sqlite3.connect(str(out) + ".ledger.db") as conn:
            recorded = conn.execute("SELECT COUNT(*) FROM job_batches WHERE handle IS NOT NULL").fetchone()[0]
        assert len(batches) == recorded  # no chunk made twice
        paid = sum(b["request_counts"]["completed"] for b in batches) + await _chat_requests(server)
        assert paid == n  # each item paid once, whichever way it went
