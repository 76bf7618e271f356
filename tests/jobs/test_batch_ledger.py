"""The ledger's batch side on a real SQLite file and a real PostgreSQL: items held by a batch are never
claimed or reaped online, a batch's results are applied once, its unanswered items go back online; and
``--deadline`` durations."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kagura.jobs import JobRequest, open_ledger, parse_duration, scan
from kagura.jobs._batch_ledger import BatchLedger
from kagura.jobs._ledger import Outcome


def _items(n: int) -> list[JobRequest]:
    found = list(scan([{"custom_id": f"q{i}", "prompt": f"x {i}"} for i in range(n)], "m"))
    return found  # type: ignore[return-value]


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
    else:
        yield request.getfixturevalue("postgres_url")


def _done(cid: str, cost: float) -> Outcome:
    return Outcome(cid, "done", f'{{"custom_id": "{cid}"}}', prompt_tokens=3, cost_usd=cost)


def test_a_batchs_items_are_not_claimed_online_and_its_results_apply_once(target: str) -> None:
    ledger = open_ledger(target, "job", ttl=0.01)  # claims expire at once: batch items must not
    try:
        ledger.register(_items(4))
        book = BatchLedger(ledger)
        book.record_intent(0, "d0", time.time(), ["q0", "q1", "q2"])
        assert [row.state for row in book.batches()] == ["intent"]
        time.sleep(0.05)
        assert [c.custom_id for c in ledger.claim(10)] == ["q3"]  # reaping returns no batch item
        ledger.release()
        book.record_batch(0, {"provider": "openai", "batch_id": "batch_1"})
        assert book.batch_ids() == ["batch_1"]
        assert book.collect(0, [_done("q0", 0.25), _done("q1", 0.25)]) == ["q2"]  # q2 expired: online
        assert book.collect(0, [_done("q0", 0.25), _done("q1", 0.25)]) == []  # read again: applied once
        counts = ledger.counts()
        assert (counts.done, counts.pending, counts.cost_usd) == (2, 2, 0.5)
        assert [row.state for row in book.batches()] == ["collected"]
        assert sorted(c.custom_id for c in ledger.claim(10)) == ["q2", "q3"]
        ledger.settle([_done("q2", 0.5), _done("q3", 0.5)])
        assert book.via_counts() == {
            "batch": {"items": 2, "cost_usd": 0.5},
            "online": {"items": 2, "cost_usd": 1.0},
        }
    finally:
        ledger.close()


def test_an_intent_over_items_no_longer_pending_records_nothing(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path / "ledger.db", "job")
    try:
        ledger.register(_items(3))
        assert [c.custom_id for c in ledger.claim(1)] == ["q0"]  # an online worker holds q0
        book = BatchLedger(ledger)
        assert not book.record_intent(0, "d0", time.time(), ["q0", "q1"])
        assert book.batches() == [] and [c.custom_id for c in ledger.claim(5)] == ["q1", "q2"]
        ledger.release(["q2"])
        assert book.record_intent(0, "d0", time.time(), ["q2"])
        assert not book.record_intent(0, "d1", time.time(), [])  # chunk 0 is taken: another worker's
    finally:
        ledger.close()


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("6h", 21600), ("24h", 86400), ("45s", 45),
                                               ("1.5h", 5400), ("2d", 172800), (" 10M ", 600)])  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1h", "1w", "1h30m", "soon"])
def test_bad_durations_say_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_only_intents_of_dead_workers_are_submitted_again(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    worker, other = open_ledger(path, "job"), open_ledger(path, "job")
    try:
        worker.register(_items(2))
        BatchLedger(worker).record_intent(0, "d0", time.time(), ["q0"])
        [row] = BatchLedger(other).batches()
        assert not BatchLedger(other).abandoned(row)  # a live process of this host is submitting it
        assert BatchLedger(worker).abandoned(row)  # its own (a resume in the same process)
        dead = dataclasses.replace(row, pid=2**22 + 12345)
        assert BatchLedger(other).abandoned(dead)
        far = dataclasses.replace(row, host="elsewhere", updated_at=time.time())
        assert not BatchLedger(other).abandoned(far)
        assert BatchLedger(other).abandoned(dataclasses.replace(far, updated_at=time.time() - 2 * other.ttl))
    finally:
        worker.close()
        other.close()
