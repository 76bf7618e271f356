"""``kagura bench mixed``: its tree is built from shipped data and the installed ``rich``, and every question
written for it is answerable from the tree (evidence present in the answer file)."""

from __future__ import annotations

from pathlib import Path

from kagura.bench._mixed_tree import build_mixed_tree, load_mixed_questions
from kagura.bench._runner import BENCHMARKS, resolve_names


def test_mixed_is_a_registered_benchmark_run_by_all() -> None:
    assert BENCHMARKS["mixed"] == "kagura.bench.mixed"
    assert "mixed" in resolve_names("all")


def test_tree_has_every_kind_of_file_and_answers_every_question(tmp_path: Path) -> None:
    tree = build_mixed_tree(tmp_path / "tree")
    relpaths = set(tree.relpaths)
    assert {"deploy/Dockerfile", "deploy/Caddyfile", "deploy/nginx.conf", "pyproject.toml"} <= relpaths
    assert {"docs/api.md", "docs/html/api.html", "web/js/api.js", "src/lantern/passwords.py"} <= relpaths
    assert "vendor/rich/filesize.py" in relpaths
    assert tree.skipped_questions == 0
    assert len(tree.questions) == len(load_mixed_questions()) >= 30
    for question in tree.questions:
        for answer in question.answers:
            assert question.evidence in (tree.root / answer).read_text(encoding="utf-8"), question.text
    page = (tree.root / "docs/html/api.html").read_text(encoding="utf-8")
    assert "<title>HTTP API | Lantern docs</title>" in page and "Table of contents" in page
    assert {q.kind for q in tree.questions} == {"config", "docs", "python", "javascript", "vendor"}
