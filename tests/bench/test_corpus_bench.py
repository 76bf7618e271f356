"""The corpus benchmark's tree and questions (no embedding here: the bench itself measures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kagura.bench._corpus_tree import SIZES, build_tree, load_questions, select_files, stdlib_root
from kagura.bench.corpus import EDIT, file_ranking, score


def test_at_least_forty_questions_each_answered_in_a_selected_file_that_says_so() -> None:
    questions = load_questions()
    assert len(questions) >= 40
    assert {"code", "config", "exact"} <= {q.kind for q in questions}
    selected = set(select_files())
    lib = stdlib_root()
    for q in questions:
        present = [a for a in q.answers if a in selected]
        assert present, f"no answer file of {q.text!r} is in the tree"
        assert q.evidence in (lib / present[0]).read_text(encoding="utf-8"), q.text


def test_selection_is_deterministic_and_sizes_nest() -> None:
    full = select_files()
    assert full == select_files() and full == sorted(full)
    assert 300 <= len(full) <= 700
    assert set(select_files(size="quick")) <= set(select_files(size="small")) <= set(full)
    assert EDIT[0] in select_files(size="small")
    assert EDIT[1] in (stdlib_root() / EDIT[0]).read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="full, small, quick"):
        select_files(size="huge")
    assert list(SIZES) == ["full", "small", "quick"]


def test_build_tree_copies_the_selection_n_times(tmp_path: Path) -> None:
    info = build_tree(tmp_path / "t", copies=2, size="quick")
    assert info.files == 2 * len(info.relpaths)
    for rel in info.relpaths:
        assert (tmp_path / "t" / "copy-1" / rel).read_bytes() == (
            tmp_path / "t" / "copy-2" / rel
        ).read_bytes()


def test_scores_count_the_rank_of_the_first_answer_file() -> None:
    [q1, q2, q3] = load_questions()[:3]
    rankings = [
        (file_ranking(["x.py", q1.answers[0], q1.answers[0]]), q1),  # rank 2
        (file_ranking([q2.answers[0]]), q2),  # rank 1
        (file_ranking(["a", "b", "c", "d", "e", q3.answers[0]]), q3),  # rank 6: not in the top 5
    ]
    assert score(rankings) == {
        "hit@1": round(1 / 3, 3),
        "hit@5": round(2 / 3, 3),
        "mrr": round((0.5 + 1 + 1 / 6) / 3, 3),
    }
