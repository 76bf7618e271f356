"""The job input: both formats, and every problem reported with its line before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kagura.errors import JobInputError
from kagura.jobs import JobRequest, Problem, parse_request, scan
from kagura.jobs._prepare import check_file


def test_short_form_becomes_a_chat_body_with_the_default_model() -> None:
    item = parse_request({"custom_id": "a", "prompt": "hi", "max_tokens": 5}, 1, "m")
    assert isinstance(item, JobRequest)
    assert item.url == "/v1/chat/completions" and item.path == "/chat/completions"
    assert item.body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def test_batch_form_is_kept_as_is_and_its_own_model_wins() -> None:
    body = {"model": "emb", "input": ["a", "b"]}
    item = parse_request({"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": body}, 3, "m")
    assert isinstance(item, JobRequest)
    assert item.body == body and item.line == 3 and item.path == "/embeddings"


def test_the_hash_ignores_key_order_but_not_content() -> None:
    one = parse_request({"custom_id": "a", "messages": [{"role": "user", "content": "x"}], "model": "m"}, 1)
    two = parse_request({"model": "m", "messages": [{"content": "x", "role": "user"}], "custom_id": "a"}, 9)
    three = parse_request({"custom_id": "a", "prompt": "y", "model": "m"}, 1)
    assert isinstance(one, JobRequest) and isinstance(two, JobRequest) and isinstance(three, JobRequest)
    assert one.body_hash == two.body_hash != three.body_hash


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ({"prompt": "x"}, "missing field custom_id"),
        ({"custom_id": "", "prompt": "x"}, "non-empty string"),
        ({"custom_id": "a"}, "exactly one of 'prompt' or 'messages'"),
        ({"custom_id": "a", "prompt": "x", "colour": 1}, "unknown field(s) colour"),
        ({"custom_id": "a", "method": "POST", "url": "/v1/files", "body": {"model": "m"}}, "unknown url"),
        ({"custom_id": "a", "method": "GET", "url": "/v1/embeddings", "body": {}}, "'method' must be"),
        ({"custom_id": "a", "url": "/v1/embeddings", "body": {"input": "x"}}, "missing field(s) method"),
        ({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}},
         "'body.messages'"),
        ({"custom_id": "a", "prompt": "x"}, "'model' must be"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_line_is_a_problem_naming_it(obj: dict[str, object], fragment: str) -> None:
    problem = parse_request(obj, 4)
    assert isinstance(problem, Problem)
    assert problem.line == 4 and fragment in problem.message


def test_scan_reports_malformed_json_and_duplicates_with_line_numbers() -> None:
    lines = [
        json.dumps({"custom_id": "a", "prompt": "x"}),
        "",
        "{broken",
        json.dumps({"custom_id": "a", "prompt": "y"}),
        json.dumps({"custom_id": "b", "prompt": "z"}),
    ]
    found = list(scan(lines, "m"))
    problems = [str(p) for p in found if isinstance(p, Problem)]
    assert [r.custom_id for r in found if isinstance(r, JobRequest)] == ["a", "b"]
    assert problems[0].startswith("line 3: not valid JSON")
    assert problems[1] == "line 4: duplicate custom_id 'a'"


def test_check_file_lists_every_problem_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    good = [json.dumps({"custom_id": f"q{i}", "prompt": "x"}) for i in range(30)]
    bad = ["[1, 2]"] * 25
    path.write_text("\n".join(good + bad) + "\n")
    with pytest.raises(JobInputError) as caught:
        check_file(path, "m")
    assert "25 problems found, nothing was sent" in str(caught.value)
    assert "line 31: expected a JSON object" in str(caught.value)
    assert "... and 5 more" in str(caught.value)
    path.write_text("\n".join(good) + "\n")
    assert check_file(path, "m") == 30
