"""A requests file's new items are recorded while the first calls go out (the whole file is checked
first), against the fake server on 127.0.0.1 with a real SQLite ledger; a changed body under a custom_id
already sent is refused before anything is recorded."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.memory.stores._claimant import Claimant
from kagura.errors import JobInputError
from kagura.jobs import Job
from kagura.jobs._input import JobRequest
from kagura.jobs._ledger import Outcome
from kagura.jobs._ledgers import CLAIM_TTL, DatabaseLedger, ledger_database
from kagura.jobs._prepare import prepare_file
from kagura.testing import FakeLLMServer

_GUARD_S = 30.0  # only bounds the wait on code that records everything first (it would hang otherwise)


def _write(path: Path, n: int, text: str = "hello") -> Path:
    path.write_text(
        "".join(json.dumps({"custom_id": f"q{i}", "prompt": f"{text} {i}"}) + "\n" for i in range(n))
    )
    return path


class _HeldAfterFirstBatch(DatabaseLedger):
    """A ledger whose second batch of new items is held until the test lets it go."""

    def __init__(self, target: Path) -> None:
        super().__init__(ledger_database(target), "job", claimant=Claimant(CLAIM_TTL))
        self.batches = 0
        self.go_on = threading.Event()
        self.released_in_time: bool | None = None

    def register(self, items: Sequence[JobRequest]) -> list[tuple[JobRequest, str]]:
        self.batches += 1
        if self.batches == 2:
            self.released_in_time = self.go_on.wait(_GUARD_S)
        return super().register(items)


@pytest.fixture
async def client() -> AsyncIterator[LLMClient]:
    async with FakeLLMServer() as server:
        config = LLMConfig(
            model="fake", base_url=server.base_url, api_key="t", max_attempts=2, retry_max_delay=0
        )
        async with LLMClient(config) as made:
            yield made


async def test_calls_start_while_the_new_items_are_still_being_recorded(
    tmp_path: Path, client: LLMClient
) -> None:
    requests = _write(tmp_path / "in.jsonl", 1200)  # batches of 500: the second waits for the first answer
    ledger = _HeldAfterFirstBatch(tmp_path / "l.db")
    try:
        job = Job(
            requests, ledger=ledger, client=client, name="job", out=tmp_path / "out.jsonl", max_concurrent=8
        )
        ids = []
        async for result in job.results():
            ledger.go_on.set()  # an answer came back while batch 2 was held: the calls did not wait for it
            ids.append(result.custom_id)
        assert ledger.released_in_time is True
        assert sorted(ids) == sorted(f"q{i}" for i in range(1200))
        assert job.report is not None and (job.report.done, job.report.requests) == (1200, 1200)
        assert job.progress["total"] == 1200
    finally:
        ledger.close()


async def test_an_interrupted_run_stops_recording_before_the_ledger_closes(
    tmp_path: Path, client: LLMClient
) -> None:
    requests = _write(tmp_path / "in.jsonl", 1200)
    ledger = _HeldAfterFirstBatch(tmp_path / "l.db")
    try:
        job = Job(requests, ledger=ledger, client=client, name="job", max_concurrent=4)
        async with contextlib.aclosing(job.results()) as results:
            async for _ in results:
                ledger.go_on.set()
                break  # the consumer leaves: the run is cancelled with items still to record
        assert job.report is not None and job.report.interrupted
        assert ledger.counts().total in (500, 1000, 1200)  # whole batches only, then it stopped
    finally:
        ledger.close()
    report = await Job(requests, ledger=tmp_path / "l.db", client=client, name="job").run()  # the resume
    assert (report.done, report.pending) == (1200, 0)


def test_a_changed_body_under_a_sent_id_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    requests = _write(tmp_path / "in.jsonl", 4)
    ledger = DatabaseLedger(ledger_database(tmp_path / "l.db"), "job", claimant=Claimant(CLAIM_TTL))
    try:
        prepare_file(ledger, requests, "m")
        ledger.settle([Outcome(item.custom_id, "done", "{}") for item in ledger.claim(4)])
        lines = requests.read_text().splitlines()
        lines[2] = json.dumps({"custom_id": "q2", "prompt": "another"})
        lines.append(json.dumps({"custom_id": "new", "prompt": "x"}))
        requests.write_text("\n".join(lines) + "\n")
        with pytest.raises(JobInputError, match="line 3: custom_id 'q2' is already done in the ledger"):
            prepare_file(ledger, requests, "m")
        assert ledger.counts().total == 4  # the new line was not recorded either
    finally:
        ledger.close()
