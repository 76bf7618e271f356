"""Preparing a file against a ledger that knows most of it (a resume), on a real SQLite file and a real
PostgreSQL: known lines cost no per-batch query, and repeats are still found wherever they are."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from kagura.core.memory.stores._claimant import Claimant
from kagura.errors import JobInputError
from kagura.jobs._ledgers import CLAIM_TTL, DatabaseLedger, ledger_database
from kagura.jobs._prepare import prepare_file


def _lines(n: int) -> list[str]:
    return [json.dumps({"custom_id": f"q{i}", "prompt": f"hello {i}"}) for i in range(n)]


class _Counted(DatabaseLedger):
    """A ledger counting its lookups of lines by hash (one query per batch of unknown lines)."""

    lookups = 0

    def known_lines(self, hashes: Sequence[str]) -> dict[str, tuple[str, int]]:
        self.lookups += 1
        return super().known_lines(hashes)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Counted]:
    claimant = Claimant(CLAIM_TTL)
    target = tmp_path / "l.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = _Counted(ledger_database(target), "job", claimant=claimant)
    try:
        yield opened
    finally:
        opened.close()


def test_a_resume_of_known_lines_looks_nothing_up_line_by_line(tmp_path: Path, ledger: _Counted) -> None:
    requests = tmp_path / "in.jsonl"
    lines = _lines(2500)
    requests.write_text("\n".join(lines) + "\n")
    assert prepare_file(ledger, requests, "m") == 2500
    ledger.lookups = 0
    requests.write_text("\n".join([*lines, *_lines(2502)[2500:]]) + "\n")  # two new lines appended
    assert prepare_file(ledger, requests, "m") == 2502
    assert ledger.lookups == 1  # the batch holding the two new lines; the 2,500 known ones matched in order
    assert ledger.counts().pending == 2502


def test_repeats_are_found_above_and_below_the_known_line(tmp_path: Path, ledger: _Counted) -> None:
    requests = tmp_path / "in.jsonl"
    lines = _lines(5)
    requests.write_text("\n".join(lines) + "\n")
    prepare_file(ledger, requests, "m")
    for text, message in [
        ([lines[4], *lines[1:]], "line 5: duplicate custom_id 'q4'"),  # the repeat comes first
        ([*lines, lines[2]], "line 6: duplicate custom_id 'q2'"),  # a known line repeated below
        ([*lines, json.dumps({"custom_id": "q1", "prompt": "other"})], "line 6: duplicate custom_id 'q1'"),
        ([json.dumps({"custom_id": "q3", "prompt": "x"}), *lines[1:]], "line 4: duplicate custom_id 'q3'"),
    ]:
        requests.write_text("\n".join(text) + "\n")
        with pytest.raises(JobInputError, match=message):
            prepare_file(ledger, requests, "m")
    assert ledger.counts().total == 5  # nothing was recorded by the refused files
