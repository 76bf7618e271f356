"""``Job`` against the fake server on 127.0.0.1 with a real SQLite ledger: each item once, resumes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kagura.core.llm import LLMClient, LLMConfig, PriceTable
from kagura.errors import JobInputError
from kagura.jobs import Job
from kagura.testing import FakeLLMServer


def _prompts(n: int, start: int = 0, text: str = "hello") -> list[dict[str, Any]]:
    return [{"custom_id": f"q{i}", "prompt": f"{text} {i}"} for i in range(start, start + n)]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def client(server: FakeLLMServer) -> AsyncIterator[LLMClient]:
    config = LLMConfig(
        model="fake", base_url=server.base_url, api_key="test", max_attempts=2, retry_max_delay=0
    )
    async with LLMClient(
        config, prices=PriceTable.from_mapping({"fake": {"input": 1.0, "output": 2.0}})
    ) as c:
        yield c


async def test_a_job_runs_each_item_once_and_a_rerun_sends_nothing(
    tmp_path: Path, server: FakeLLMServer, client: LLMClient
) -> None:
    requests = _write(tmp_path / "in.jsonl", _prompts(20))
    out = tmp_path / "out.jsonl"
    report = await Job(requests, ledger=tmp_path / "l.db", client=client, out=out, max_concurrent=4).run()
    assert (report.done, report.failed, report.pending, report.requests) == (20, 0, 0, 20)
    assert server.stats.requests == 20
    records = _output(out)
    assert [r["custom_id"] for r in records] == [f"q{i}" for i in range(20)]
    assert records[3]["response"]["status_code"] == 200 and records[3]["error"] is None
    assert records[3]["response"]["body"]["choices"][0]["message"]["content"] == "fake answer: hello 3"
    assert report.cost_usd == pytest.approx(
        (report.prompt_tokens * 1.0 + report.completion_tokens * 2.0) / 1e6
    )
    again = await Job(requests, ledger=tmp_path / "l.db", client=client, out=out).run()
    assert again.requests == 0 and server.stats.requests == 20 and again.exit_code == 0
    assert _output(out) == records


async def test_new_lines_run_alone_and_a_changed_body_is_refused(
    tmp_path: Path, server: FakeLLMServer, client: LLMClient
) -> None:
    ledger = tmp_path / "l.db"
    await Job(_prompts(5), ledger=ledger, client=client).run()
    report = await Job(_prompts(8), ledger=ledger, client=client).run()
    assert report.requests == 3 and server.stats.requests == 8
    changed = _prompts(8)
    changed[2]["prompt"] = "something else"
    with pytest.raises(JobInputError, match="'q2' is already done in the ledger with another body"):
        await Job(changed, ledger=ledger, client=client).run()
    assert server.stats.requests == 8


async def test_failures_are_items_and_retry_failed_redoes_only_them(
    tmp_path: Path, server: FakeLLMServer, client: LLMClient
) -> None:
    out, ledger = tmp_path / "out.jsonl", tmp_path / "l.db"
    server.fail_next(400, count=2, body="bad parameter")
    report = await Job(_prompts(6), ledger=ledger, client=client, out=out, max_concurrent=1).run()
    assert (report.done, report.failed, report.exit_code) == (4, 2, 1)
    failed = [r for r in _output(out) if r["error"] is not None]
    assert [r["custom_id"] for r in failed] == ["q0", "q1"]
    assert failed[0]["response"]["status_code"] == 400 and failed[0]["error"]["code"] == "http_400"
    assert (await Job(_prompts(6), ledger=ledger, client=client, out=out).run()).requests == 0
    retried = await Job(_prompts(6), ledger=ledger, client=client, out=out, retry_failed=True).run()
    assert (retried.requests, retried.done, retried.failed) == (2, 6, 0)
    assert server.stats.requests == 8


async def test_results_are_yielded_once_each_as_they_are_recorded(tmp_path: Path, client: LLMClient) -> None:
    async def lines() -> AsyncIterator[dict[str, Any]]:
        for row in _prompts(7):
            yield row

    out = tmp_path / "out.jsonl"
    job = Job(lines(), ledger=tmp_path / "l.db", client=client, max_concurrent=3, out=out)
    results = [result async for result in job.results()]
    assert sorted(r.custom_id for r in results) == sorted(f"q{i}" for i in range(7))
    assert job.report is not None and job.report.done == 7
    # each result carries its output line as written (decoded only when read)
    assert sorted(r.line for r in results) == sorted(out.read_text().splitlines())
    assert all(r.record["custom_id"] == r.custom_id and r.error is None for r in results)


async def test_bad_input_sends_nothing_and_touches_no_ledger(
    tmp_path: Path, server: FakeLLMServer, client: LLMClient
) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text(json.dumps({"custom_id": "a", "prompt": "x"}) + "\n{oops\n")
    with pytest.raises(JobInputError, match="line 2: not valid JSON"):
        await Job(requests, ledger=tmp_path / "l.db", client=client).run()
    assert server.stats.requests == 0


async def test_a_schema_is_sent_and_invalid_answers_are_repaired(tmp_path: Path) -> None:
    answers = iter(
        ['{"label": 3}', "not json", '{"label": "ok"}', '{"label": 1}', '{"label": 2}', '{"label": 3}']
    )

    def answer(messages: list[dict[str, Any]]) -> str:
        return next(answers)

    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    async with FakeLLMServer(responder=answer) as server:
        async with LLMClient(LLMConfig(model="fake", base_url=server.base_url, api_key="t")) as client:
            out = tmp_path / "out.jsonl"
            report = await Job(_prompts(2), ledger=tmp_path / "l.db", client=client, schema=schema, out=out,
                               max_concurrent=1).run()  # fmt: skip
        first = server.received[0]
        assert first["response_format"]["json_schema"]["schema"] == schema
        assert server.received[2]["messages"][-1]["content"].startswith(
            "That answer is invalid: the answer is not"
        )
    assert (report.done, report.failed, report.requests) == (1, 1, 6)  # q0 repaired twice; q1 never valid
    records = _output(out)
    assert records[0]["error"] is None
    assert records[1]["error"]["code"] == "schema_validation" and "label" in records[1]["error"]["message"]


async def test_embeddings_lines_are_posted_as_is(
    tmp_path: Path, server: FakeLLMServer, client: LLMClient
) -> None:
    body = {"model": "emb", "input": ["a", "b"], "dimensions": 8}
    row = {"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": body}
    out = tmp_path / "out.jsonl"
    await Job([row], ledger=tmp_path / "l.db", client=client, out=out).run()
    assert server.received == [body]
    assert len(_output(out)[0]["response"]["body"]["data"][1]["embedding"]) == 8


async def test_a_resume_skips_known_lines_yet_catches_duplicates_and_changes(
    tmp_path: Path, server: FakeLLMServer, client: LLMClient
) -> None:
    requests, ledger = _write(tmp_path / "in.jsonl", _prompts(5)), tmp_path / "l.db"
    await Job(requests, ledger=ledger, client=client).run()
    lines = requests.read_text().splitlines()
    requests.write_text("\n".join([*lines, lines[1]]) + "\n")  # a known line repeated
    with pytest.raises(JobInputError, match="line 6: duplicate custom_id 'q1'"):
        await Job(requests, ledger=ledger, client=client).run()
    changed = json.dumps({"custom_id": "q3", "prompt": "hello again"})
    requests.write_text("\n".join([*lines, changed]) + "\n")  # a new line reusing a known id
    with pytest.raises(JobInputError, match="line 6: duplicate custom_id 'q3'"):
        await Job(requests, ledger=ledger, client=client).run()
    requests.write_text("\n".join([changed, *lines[:3], *lines[4:]]) + "\n")  # q3's body changed, moved
    with pytest.raises(JobInputError, match="'q3' is already done in the ledger with another body"):
        await Job(requests, ledger=ledger, client=client).run()
    requests.write_text("\n".join([*reversed(lines), json.dumps(_prompts(1, start=9)[0])]) + "\n")
    report = await Job(requests, ledger=ledger, client=client).run()
    assert report.requests == 1 and server.stats.requests == 6  # reordered known lines run nothing again


async def test_the_client_is_made_ready_without_sending_anything(
    tmp_path: Path, server: FakeLLMServer, client: LLMClient
) -> None:
    await client.ready()  # what a job does while it checks its input
    assert server.stats.requests == 0
    report = await Job(
        _write(tmp_path / "in.jsonl", _prompts(2)), ledger=tmp_path / "l.db", client=client
    ).run()
    assert (report.done, server.stats.requests) == (2, 2)
