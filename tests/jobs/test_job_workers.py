"""``Job`` beside other workers on one real PostgreSQL ledger: interleavings forced with events."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.memory.stores._claimant import Claimant
from kagura.jobs import Job
from kagura.jobs._ledger import Claimed
from kagura.jobs._ledgers import DatabaseLedger, ledger_database
from kagura.jobs._prepare import prepare_file
from kagura.testing import FakeLLMServer


class _EmptyClaimSignalled(DatabaseLedger):
    """A PostgreSQL ledger that sets ``empty`` whenever a claim comes back with nothing."""

    def __init__(self, url: str, job: str, empty: threading.Event) -> None:
        super().__init__(ledger_database(url), job, claimant=Claimant(120.0))
        self.empty = empty

    def claim(self, limit: int) -> list[Claimed]:
        claimed = super().claim(limit)
        if not claimed:
            self.empty.set()
        return claimed


async def test_a_worker_waits_for_rows_another_worker_is_claiming(tmp_path: Path, postgres_url: str) -> None:
    """Another worker's claim, not yet committed, holds the pending rows locked: this worker's claim skips
    them (SKIP LOCKED) and finds nothing, yet the items are not finished; it must wait and claim again
    instead of ending with items left pending (the old exit 1 of one worker among three)."""
    import psycopg

    n = 6
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        "".join(json.dumps({"custom_id": f"q{i}", "prompt": f"hi {i}"}) + "\n" for i in range(n))
    )
    empty = threading.Event()
    ledger = _EmptyClaimSignalled(postgres_url, "default", empty)
    try:
        prepare_file(ledger, requests, "fake")  # registered already, as by the other worker
        with psycopg.connect(postgres_url) as other:  # the other worker's claim, mid-transaction
            locked = other.execute("SELECT custom_id FROM job_items FOR UPDATE").fetchall()
            assert len(locked) == n
            async with FakeLLMServer() as server:
                config = LLMConfig(model="fake", base_url=server.base_url, api_key="test")
                async with LLMClient(config) as client:
                    job = Job(requests, ledger=ledger, client=client, max_concurrent=2, poll_interval=0.01)
                    running = asyncio.ensure_future(job.run())
                    assert await asyncio.to_thread(empty.wait, 30), "the claim never came back empty"
                    other.rollback()  # the other worker gave its claim back
                    report = await asyncio.wait_for(running, 30)
                    assert (report.done, report.failed, report.pending) == (n, 0, 0)
                    assert server.stats.requests == n
    finally:
        ledger.close()
