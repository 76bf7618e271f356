"""Preparing a file against a ledger that knows most of it (a resume), on a real SQLite file and a real
PostgreSQL: known lines cost no per-batch query, blocks the ledger recorded unchanged are not read line by
line, and repeats and changed bodies are still found wherever they are."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from kagura.core.memory.stores._claimant import Claimant
from kagura.errors import JobInputError
from kagura.jobs._input_blocks import FileModels, file_models
from kagura.jobs._ledger import Outcome
from kagura.jobs._ledgers import CLAIM_TTL, DatabaseLedger, ledger_database
from kagura.jobs._prepare import prepare_file


def _lines(n: int) -> list[str]:
    return [json.dumps({"custom_id": f"q{i}", "prompt": f"hello {i}"}) for i in range(n)]


class _Counted(DatabaseLedger):
    """A ledger counting its lookups of lines by hash (one query per batch of unknown lines)."""

    lookups = 0
    rows_read = 0  # item rows read to match lines (any way the ledger offers)

    def known_lines(self, hashes: Sequence[str]) -> dict[str, tuple[str, int]]:
        self.lookups += 1
        return super().known_lines(hashes)

    def lines_between(self, first: int, last: int) -> list[tuple[int, str | None, str]]:
        rows = super().lines_between(first, last)
        self.rows_read += len(rows)
        return rows

    def lines_in_order(self) -> Iterator[tuple[int, str | None, str]]:  # the merge join's stream, before
        for row in super().lines_in_order():  # type: ignore[misc]
            self.rows_read += 1
            yield row


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


def _write(path: Path, lines: Sequence[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_a_resume_of_an_unchanged_file_reads_no_item_row(tmp_path: Path, ledger: _Counted) -> None:
    requests = tmp_path / "in.jsonl"
    lines = _lines(10_000)
    _write(requests, lines)
    assert prepare_file(ledger, requests, "m") == 10_000
    ledger.rows_read = ledger.lookups = 0
    assert prepare_file(ledger, requests, "m") == 10_000  # the whole file is skipped block by block
    assert (ledger.rows_read, ledger.lookups) == (0, 0)
    _write(requests, [*lines, *_lines(10_002)[10_000:]])  # two new lines: only the last block is read
    assert prepare_file(ledger, requests, "m") == 10_002
    assert ledger.rows_read == 10_000 - 2 * 4096
    assert ledger.counts().pending == 10_002
    ledger.rows_read = 0
    assert prepare_file(ledger, requests, "m") == 10_002
    assert ledger.rows_read == 0


def test_skipped_blocks_still_catch_repeats_and_changed_bodies(tmp_path: Path, ledger: _Counted) -> None:
    requests = tmp_path / "in.jsonl"
    lines = _lines(12)  # blocks of 4 lines: 1-4, 5-8, 9-12
    _write(requests, lines)
    assert prepare_file(ledger, requests, "m", block_lines=4) == 12
    claimed = ledger.claim(12)
    ledger.settle([Outcome(item.custom_id, "done", "{}") for item in claimed if item.line <= 4])
    cases = [
        ([*lines, lines[5]], "line 13: duplicate custom_id 'q5'"),  # a skipped block's line repeated below
        ([*lines, json.dumps({"custom_id": "q6", "prompt": "x"})], "line 13: duplicate custom_id 'q6'"),
        ([lines[0], json.dumps({"custom_id": "q9", "prompt": "x"}), *lines[2:]],
         "line 10: duplicate custom_id 'q9'"),  # the repeat is in a block that is otherwise unchanged
        ([json.dumps({"custom_id": "q0", "prompt": "changed"}), *lines[1:]],
         "line 1: custom_id 'q0' is already done in the ledger with another body"),
    ]  # fmt: skip
    for text, message in cases:
        _write(requests, text)
        with pytest.raises(JobInputError, match=message):
            prepare_file(ledger, requests, "m", block_lines=4)
        _write(requests, lines)
        assert prepare_file(ledger, requests, "m", block_lines=4) == 12  # the original file is still whole
    assert ledger.counts().total == 12


def test_a_block_is_read_again_under_another_default_model(tmp_path: Path, ledger: _Counted) -> None:
    requests = tmp_path / "in.jsonl"
    _write(requests, _lines(8))
    prepare_file(ledger, requests, "m", block_lines=4)
    assert prepare_file(ledger, requests, "n", block_lines=4) == 8  # same bytes, other bodies
    assert {json.loads(item.body)["model"] for item in ledger.claim(8)} == {"n"}


def test_a_moved_line_keeps_its_block_checked_line_by_line(tmp_path: Path, ledger: _Counted) -> None:
    requests = tmp_path / "in.jsonl"
    lines = _lines(8)
    _write(requests, lines)
    prepare_file(ledger, requests, "m", block_lines=4)
    swapped = [lines[4], *lines[1:4], lines[0], *lines[5:]]  # q0 and q4 trade places (blocks 1-4, 5-8)
    _write(requests, swapped)
    assert prepare_file(ledger, requests, "m", block_lines=4) == 8
    ledger.rows_read = 0
    assert prepare_file(ledger, requests, "m", block_lines=4) == 8
    assert ledger.rows_read == 8  # never skipped: the ledger holds q0 and q4 at their old lines
    _write(requests, [*swapped, json.dumps({"custom_id": "q0", "prompt": "again"})])
    with pytest.raises(JobInputError, match="line 9: duplicate custom_id 'q0'"):
        prepare_file(ledger, requests, "m", block_lines=4)


def test_a_price_check_parses_only_the_blocks_the_ledger_did_not_record(
    tmp_path: Path, ledger: _Counted
) -> None:
    requests = tmp_path / "in.jsonl"
    lines = _lines(10)  # blocks of 4 lines: 1-4, 5-8, 9-10
    lines[5] = json.dumps({"custom_id": "q5", "prompt": "hi", "model": "a"})
    _write(requests, lines)
    before = file_models(ledger, requests, "m", size=4)  # nothing recorded yet: every block parsed
    assert (before.models, before.parsed_blocks) == ({"m", "a"}, 3)
    prepare_file(ledger, requests, "m", block_lines=4)
    assert file_models(ledger, requests, "m", size=4) == FileModels(frozenset({"m", "a"}), 0)
    lines.append(json.dumps({"custom_id": "q10", "prompt": "hi", "model": "b"}))  # into block 9-12
    _write(requests, lines)
    assert file_models(ledger, requests, "m", size=4) == FileModels(frozenset({"m", "a", "b"}), 1)
    prepare_file(ledger, requests, "m", block_lines=4)  # block 9-12 checked: lines 9-10 known, unparsed
    assert file_models(ledger, requests, "m", size=4) == FileModels(frozenset({"m", "a", "b"}), 1)
    assert file_models(ledger, requests, "m", size=4).parsed_blocks == 0  # its models were kept
    assert file_models(ledger, requests, "n", size=4).parsed_blocks == 3  # another default model
    with ledger._tx() as conn:  # a ledger from before the models were kept: every block parsed once
        conn.execute("UPDATE job_input_blocks SET models = NULL")
    assert file_models(ledger, requests, "m", size=4) == FileModels(frozenset({"m", "a", "b"}), 3)
    assert file_models(ledger, requests, "m", size=4) == FileModels(frozenset({"m", "a", "b"}), 0)
    assert prepare_file(ledger, requests, "m", block_lines=4) == 11  # the resume keeps them
    assert file_models(ledger, requests, "m", size=4).parsed_blocks == 0
