"""The ledger on a real SQLite file and a real PostgreSQL: states, claims, take-overs, refusals."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kagura.jobs import JobRequest, SqlLedger, open_ledger, scan
from kagura.jobs._ledger import Outcome


def _items(n: int, text: str = "x") -> list[JobRequest]:
    found = list(scan([{"custom_id": f"q{i}", "prompt": f"{text} {i}"} for i in range(n)], "m"))
    assert all(isinstance(i, JobRequest) for i in found)
    return found  # type: ignore[return-value]


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
    else:
        yield request.getfixturevalue("postgres_url")


def _done(ledger: SqlLedger, ids: list[str]) -> None:
    ledger.settle(
        [Outcome(cid, "done", f'{{"custom_id": "{cid}"}}', prompt_tokens=2, cost_usd=0.5) for cid in ids]
    )


def test_claims_are_disjoint_between_workers_and_in_input_order(target: str) -> None:
    one, two = open_ledger(target, "job"), open_ledger(target, "job")
    try:
        assert one.register(_items(10)) == []
        assert two.register(_items(10)) == []  # a second worker registering the same input adds nothing
        first, second = one.claim(4), two.claim(100)
        assert [c.custom_id for c in first] == ["q0", "q1", "q2", "q3"]
        assert {c.custom_id for c in second} == {f"q{i}" for i in range(4, 10)}
        assert one.claim(5) == [] and one.unfinished_elsewhere() == 6
        _done(one, [c.custom_id for c in first])
        counts = one.counts()
        assert (counts.done, counts.running, counts.pending, counts.cost_usd) == (4, 6, 0, 2.0)
        assert one.states() == {"done": 4, "running": 6}
        assert [line for line in one.results()] == [f'{{"custom_id": "q{i}"}}' for i in range(4)]
    finally:
        one.close()
        two.close()


def test_a_dead_workers_claims_are_taken_over(target: str) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    gone, alive = open_ledger(target, "job"), open_ledger(target, "job")
    try:
        gone.pid = pid  # claims as the process that has exited
        gone.register(_items(3))
        assert len(gone.claim(3)) == 3
        assert alive.unfinished_elsewhere() == 3  # reaped to pending: its process is gone
        assert [c.custom_id for c in alive.claim(10)] == ["q0", "q1", "q2"]
    finally:
        gone.close()
        alive.close()


def test_an_expired_claim_returns_to_pending(target: str) -> None:
    slow, other = open_ledger(target, "job", ttl=0.05), open_ledger(target, "job")
    try:
        slow.register(_items(2))
        assert len(slow.claim(2)) == 2
        time.sleep(0.1)
        assert len(other.claim(2)) == 2
    finally:
        slow.close()
        other.close()


def test_a_changed_body_is_refused_once_sent_and_replaced_while_pending(target: str) -> None:
    ledger = open_ledger(target, "job")
    try:
        ledger.register(_items(2))
        _done(ledger, [c.custom_id for c in ledger.claim(1)])  # q0 done, q1 pending
        refused = ledger.register(_items(2, text="changed"))
        assert [(item.custom_id, state) for item, state in refused] == [("q0", "done")]
        assert [c.body for c in ledger.claim(5)] == [_items(2, text="changed")[1].body_json]
    finally:
        ledger.close()


def test_retry_failed_puts_only_failures_back(target: str) -> None:
    ledger = open_ledger(target, "job")
    try:
        ledger.register(_items(3))
        claimed = [c.custom_id for c in ledger.claim(3)]
        _done(ledger, claimed[:2])
        ledger.settle([Outcome(claimed[2], "failed", "{}", reason="HTTP 400")])
        assert ledger.retry_failed() == 1
        again = ledger.claim(3)
        assert [(c.custom_id, c.attempts) for c in again] == [("q2", 2)]
    finally:
        ledger.close()


def test_jobs_in_one_database_are_apart(target: str) -> None:
    a, b = open_ledger(target, "a"), open_ledger(target, "b")
    try:
        a.register(_items(2))
        assert b.claim(5) == [] and b.counts().total == 0 and a.counts().pending == 2
    finally:
        a.close()
        b.close()
