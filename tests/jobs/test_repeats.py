"""Repeated custom_ids among new lines are found with memory that does not grow with the file (keys
spilled to a temporary file by partition), and reported in line order with the other problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kagura.errors import JobInputError
from kagura.jobs._ledgers import open_ledger
from kagura.jobs._line_ranges import LineRanges
from kagura.jobs._prepare import plan_file, prepare_file
from kagura.jobs._repeats import Repeats, id_key


def test_repeats_spilled_to_disk_are_found_in_line_order() -> None:
    repeats = Repeats(buffer_bytes=24 * 50)  # spills every 50 keys
    ids = [f"q{i % 700}" for i in range(1000)]  # lines 701-1000 repeat lines 1-300
    try:
        for line, custom_id in enumerate(ids, start=1):
            repeats.add(id_key(custom_id), line)
        assert repeats._file is not None and repeats._buffered < 24 * 50  # most keys live on disk
        assert repeats.lines() == list(range(701, 1001))
    finally:
        repeats.close()
    with pytest.raises(ValueError, match="buffer_bytes"):
        Repeats(buffer_bytes=8)


def test_line_ranges_keep_runs_not_lines() -> None:
    ranges = LineRanges()
    for number in [*range(1, 100_001), 100_005, 100_006, 200_000]:
        ranges.append(number)
    assert ranges.runs == 3 and len(ranges) == 100_003
    assert list(ranges)[-4:] == [100_000, 100_005, 100_006, 200_000]
    with pytest.raises(ValueError, match="ascend"):
        ranges.append(200_000)


def test_a_fresh_file_keeps_its_new_lines_as_one_run(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    text = "".join(json.dumps({"custom_id": f"q{i}", "prompt": "x"}) + "\n" for i in range(5000))
    requests.write_text(text)
    ledger = open_ledger(tmp_path / "l.db", "job")
    try:
        plan = plan_file(ledger, requests, "m", block_lines=64)
        assert (plan.count, plan.fresh.runs, len(plan.fresh)) == (5000, 1, 5000)
    finally:
        ledger.close()


def test_repeats_and_other_problems_are_reported_together_in_line_order(tmp_path: Path) -> None:
    lines = [json.dumps({"custom_id": f"q{i}", "prompt": "x"}) for i in range(30)]
    lines[3] = "not json"
    lines[10] = json.dumps({"custom_id": "q2", "prompt": "again"})  # line 11 repeats line 3
    lines[25] = json.dumps({"custom_id": "q20", "prompt": "again"})  # line 26 repeats line 21 (a block below)
    lines.append(json.dumps({"custom_id": "q0", "prompt": "x"}))  # line 31 repeats line 1
    requests = tmp_path / "in.jsonl"
    requests.write_text("\n".join(lines) + "\n")
    ledger = open_ledger(tmp_path / "l.db", "job")
    try:
        with pytest.raises(JobInputError) as caught:
            prepare_file(ledger, requests, "m", block_lines=8)
        assert [problem.split(":")[0] for problem in caught.value.problems] == [
            "line 4", "line 11", "line 26", "line 31"
        ]  # fmt: skip
        assert "line 11: duplicate custom_id 'q2'" in str(caught.value)
        assert "4 problems found, nothing was sent" in str(caught.value)
        assert ledger.counts().total == 0
    finally:
        ledger.close()
