"""``kagura run`` as a real subprocess against the fake server process: kill -9 and resume, many workers,
exit codes and the JSON summary. Counts come from the fake server's request counters."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from kagura.testing import FakeLLMProcess

KEY = "sk-test-never-echoed-123456"


def _write(path: Path, n: int) -> Path:
    path.write_text(
        "".join(json.dumps({"custom_id": f"q{i}", "prompt": f"hello {i}"}) + "\n" for i in range(n))
    )
    return path


def _args(requests: Path, out: Path, server: FakeLLMProcess, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kagura.cli", "run", str(requests), "--out", str(out), "--base-url",
            server.base_url, "--model", "fake", "--api-key", KEY, *extra]  # fmt: skip


async def _run(args: list[str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _ids(out: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]


async def _chat_requests(server: FakeLLMProcess) -> int:
    stats: dict[str, Any] = await server.stats()
    return int(stats["chat_requests"]) - int(stats["over_quota"])


async def test_kill_9_mid_run_then_resume_gives_each_item_once(tmp_path: Path) -> None:
    n, concurrency = 120, 8
    requests, out = _write(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    async with FakeLLMProcess(latency=0.05) as server:
        args = _args(requests, out, server, "--max-concurrent", str(concurrency), "--json")
        for kill_after in (20, 60):  # two kills at different depths, then a run to the end
            proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
            while await _chat_requests(server) < kill_after:  # noqa: ASYNC110 - polling another process's counters
                await asyncio.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
        code, stdout, _ = await _run(args)
        summary = json.loads(stdout)
        assert code == 0 and (summary["done"], summary["failed"], summary["pending"]) == (n, 0, 0)
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))  # exactly once each
        paid_twice = await _chat_requests(server) - n
        assert 0 <= paid_twice <= 2 * concurrency  # at most the calls in flight at each of the two kills
        code, stdout, _ = await _run(args)
        assert code == 0 and json.loads(stdout)["requests"] == 0


@pytest.mark.parametrize("ledger", ["sqlite", "postgres"])
async def test_three_workers_on_one_ledger_call_each_item_once(
    tmp_path: Path, ledger: str, request: pytest.FixtureRequest
) -> None:
    n = 90
    requests, out = _write(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    extra = ["--max-concurrent", "4", "--json"]
    if ledger == "postgres":
        extra += ["--ledger", request.getfixturevalue("postgres_url")]
    async with FakeLLMProcess(latency=0.02) as server:
        results = await asyncio.gather(*(_run(_args(requests, out, server, *extra)) for _ in range(3)))
        codes = [code for code, _, _ in results]
        assert codes == [0, 0, 0], [(printed[-2000:], err[-2000:]) for _, printed, err in results]
        assert await _chat_requests(server) == n
        assert sum(json.loads(stdout)["requests"] for _, stdout, _ in results) == n
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))


async def test_a_killed_workers_items_are_taken_over_by_another(tmp_path: Path) -> None:
    n = 60
    requests, out = _write(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    async with FakeLLMProcess(latency=0.05) as server:
        args = _args(requests, out, server, "--max-concurrent", "4", "--json")
        victim = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                      stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
        while await _chat_requests(server) < 8:  # noqa: ASYNC110 - polling another process's counters
            await asyncio.sleep(0.01)
        survivor = asyncio.ensure_future(_run(args))
        os.kill(victim.pid, signal.SIGKILL)
        await victim.wait()
        code, stdout, _ = await survivor
        assert code == 0 and json.loads(stdout)["done"] == n
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))
        assert await _chat_requests(server) - n <= 4


async def test_bad_input_exits_2_with_line_numbers_and_sends_nothing(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"custom_id": "a", "prompt": "x"}\n{"custom_id": "a", "prompt": "y"}\nnope\n')
    async with FakeLLMProcess() as server:
        code, stdout, stderr = await _run(_args(requests, tmp_path / "out.jsonl", server))
        assert code == 2 and stdout == ""
        assert "line 2: duplicate custom_id 'a'" in stderr and "line 3: not valid JSON" in stderr
        assert "Traceback" not in stderr and KEY not in stderr
        assert (await server.stats())["requests"] == 0


async def test_arguments_refused_before_anything_is_sent(tmp_path: Path) -> None:
    requests = _write(tmp_path / "in.jsonl", 3)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"other": {"input": 1, "output": 1}}))
    async with FakeLLMProcess() as server:
        out = tmp_path / "out.jsonl"
        for extra, message in [
            (["--via", "batch", "--deadline", "soon"], "--deadline: a duration is a number and a unit"),
            (["--deadline", "24h"], "--deadline and --batch-size apply to --via batch or auto only"),
            (
                ["--via", "auto", "--budget-usd", "1", "--prices", str(prices)],
                "needs a price for every model",
            ),
            (["--via", "sometimes"], "--via must be one of online, batch, auto"),
            (
                ["--budget-usd", "1", "--prices", str(prices)],
                "needs a price for every model; none for 'fake'",
            ),
            (["--schema", str(prices.with_name("missing.json"))], "cannot read the schema file"),
        ]:
            code, _, stderr = await _run(_args(requests, out, server, *extra))
            assert code == 2 and message in stderr and "Traceback" not in stderr and KEY not in stderr
        assert (await server.stats())["requests"] == 0


async def test_budget_cap_stops_with_exit_3_and_never_overspends(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text("".join(
        json.dumps({"custom_id": f"q{i}", "prompt": f"hello {i}", "max_tokens": 40}) + "\n" for i in range(50)
    ))  # fmt: skip
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fake": {"input": 100.0, "output": 200.0}}))
    async with FakeLLMProcess() as server:
        args = _args(
            requests, tmp_path / "out.jsonl", server, "--budget-usd", "0.1", "--prices", str(prices), "--json"
        )
        code, stdout, _ = await _run(args)
        summary = json.loads(stdout)
        assert code == 3 and summary["stopped_at_budget"] and 0 < summary["done"] < 50
        assert summary["cost_usd"] <= 0.1
        code, stdout, _ = await _run(args)  # the same cap again: nothing more fits
        assert code == 3 and json.loads(stdout)["cost_usd"] <= 0.1


async def test_dry_run_estimates_and_sends_nothing(tmp_path: Path) -> None:
    requests = _write(tmp_path / "in.jsonl", 10)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fake": {"input": 1.0, "output": 2.0}}))
    async with FakeLLMProcess() as server:
        extra = ["--dry-run", "--prices", str(prices), "--rpm", "60", "--json"]
        code, stdout, _ = await _run(_args(requests, tmp_path / "out.jsonl", server, *extra))
        estimate = json.loads(stdout)
        assert code == 0 and estimate["requests"] == 10 and estimate["time_s_estimate"] == 10.0
        assert 0 < estimate["cost_usd_estimate"] <= estimate["cost_usd_worst_case"]
        assert (await server.stats())["requests"] == 0 and not (tmp_path / "out.jsonl").exists()


async def test_schema_fails_invalid_answers_with_the_validation_error(tmp_path: Path) -> None:
    from kagura.testing import FakeLLMServer

    def answer(messages: list[dict[str, Any]]) -> str:
        number = int(str(messages[0]["content"]).split()[-1])  # the first message: repairs follow it
        return json.dumps({"label": "even"} if number % 2 == 0 else {"label": number})

    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps({"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]})
    )
    requests, out = _write(tmp_path / "in.jsonl", 6), tmp_path / "out.jsonl"
    async with FakeLLMServer(responder=answer) as server:
        args = [sys.executable, "-m", "kagura.cli", "run", str(requests), "--out", str(out), "--base-url",
                server.base_url, "--model", "fake", "--schema", str(schema), "--json"]  # fmt: skip
        code, stdout, _ = await _run(args)
    assert code == 1 and (json.loads(stdout)["done"], json.loads(stdout)["failed"]) == (3, 3)
    records = {r["custom_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["q0"]["error"] is None
    assert records["q1"]["error"]["code"] == "schema_validation"
    assert (
        "label" in records["q1"]["error"]["message"]
        and "not of type 'string'" in records["q1"]["error"]["message"]
    )


async def test_ctrl_c_stops_at_once_with_a_partial_summary_and_the_same_command_resumes(
    tmp_path: Path,
) -> None:
    n = 200
    requests, out = _write(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    async with FakeLLMProcess(latency=0.05) as server:
        args = _args(requests, out, server, "--max-concurrent", "4", "--json")
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)  # fmt: skip
        while await _chat_requests(server) < 20:  # noqa: ASYNC110 - polling the server process's counters
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = await proc.communicate()
        summary = json.loads(stdout)
        assert proc.returncode == 130 and summary["interrupted"] and "Traceback" not in stderr.decode()
        assert 0 < summary["done"] < n and summary["pending"] == n - summary["done"]
        assert len(_ids(out)) == summary["done"]
        code, stdout2, _ = await _run(args)
        assert code == 0 and json.loads(stdout2)["requests"] == n - summary["done"]
        assert sorted(_ids(out)) == sorted(f"q{i}" for i in range(n))


async def test_two_workers_share_one_dollar_cap_through_redis(tmp_path: Path, redis_server: Any) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text("".join(
        json.dumps({"custom_id": f"q{i}", "prompt": f"hello {i}", "max_tokens": 40}) + "\n" for i in range(80)
    ))  # fmt: skip
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fake": {"input": 100.0, "output": 200.0}}))
    cap = 0.05  # all 80 items would cost about 0.11
    async with FakeLLMProcess(latency=0.02) as server:
        extra = ["--budget-usd", str(cap), "--prices", str(prices), "--redis", redis_server.url, "--json",
                 "--max-concurrent", "4"]  # fmt: skip
        args = _args(requests, tmp_path / "out.jsonl", server, *extra)
        results = await asyncio.gather(_run(args), _run(args))
        stats = await server.stats()
    assert all(stdout for _, stdout, _ in results), [stderr[-3000:] for _, _, stderr in results]
    summaries = [json.loads(stdout) for _, stdout, _ in results]
    assert [code for code, _, _ in results] == [3, 3], [
        (s["cost_usd"], s["done"], s["requests"]) for s in summaries
    ]
    spent = max(s["cost_usd"] for s in summaries)  # each reports the job's total from the shared ledger
    billed = (stats["prompt_tokens"] * 100.0 + stats["completion_tokens"] * 200.0) / 1e6
    assert 0 < spent <= cap and billed <= cap
    assert sum(s["requests"] for s in summaries) == stats["chat_requests"]


async def test_a_capped_resume_still_refuses_a_new_model_without_a_price(tmp_path: Path) -> None:
    requests = _write(tmp_path / "in.jsonl", 5)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fake": {"input": 1.0, "output": 1.0}}))
    async with FakeLLMProcess() as server:
        args = _args(requests, tmp_path / "out.jsonl", server, "--budget-usd", "10", "--prices", str(prices))
        code, _, stderr = await _run(args)
        assert code == 0, stderr
        with requests.open("a") as handle:  # the ledger knows the first block: only the new line is parsed
            handle.write(json.dumps({"custom_id": "new", "prompt": "hi", "model": "other"}) + "\n")
        code, _, stderr = await _run(args)
        assert code == 2 and "needs a price for every model; none for 'other'" in stderr
        assert (await server.stats())["chat_requests"] == 5
