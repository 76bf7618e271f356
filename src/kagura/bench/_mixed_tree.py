"""The tree behind ``kagura bench mixed``: a small web project of mixed files, built the same everywhere.

Three sources, all present on every machine that runs kagura:

* ``data/mixed_tree.json``: a project written for this benchmark (a Dockerfile, a Caddyfile, an nginx
  config, compose/CI YAML, TOML, ``package.json``, Markdown docs, Python and JavaScript code);
* an HTML copy of every ``docs/*.md`` page under ``docs/html/``, rendered with ``markdown-it`` (a dependency
  of ``rich``) inside a page template with a title and a "Table of contents" navigation, as documentation
  sites publish them: the same page in two formats;
* a few modules of the installed ``rich`` package under ``vendor/rich/`` (real code, not written for this).

The questions (``data/mixed_questions.json``) were written before any ranking change; a question whose
evidence is missing from its answer file (a ``rich`` release that moved code) is left out and counted.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from kagura.bench._corpus_tree import Question

__all__ = ["VENDOR_RICH", "MixedTree", "build_mixed_tree", "load_mixed_questions", "render_html_page"]

VENDOR_RICH = (
    "filesize.py", "_ratio.py", "rule.py", "_wrap.py", "spinner.py", "progress_bar.py", "box.py",
    "cells.py", "palette.py",
)  # fmt: skip
"""Modules of the installed ``rich`` copied to ``vendor/rich/`` (answers and distractors)."""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} | Lantern docs</title>
</head>
<body>
<nav class="sidebar">
<h2>Table of contents</h2>
<ul>
{links}
</ul>
</nav>
<main>
{body}
</main>
</body>
</html>
"""


@dataclass(frozen=True, slots=True)
class MixedTree:
    """A built tree: its root, its files' relpaths, and the questions whose evidence it holds."""

    root: Path
    relpaths: tuple[str, ...]
    questions: tuple[Question, ...]
    skipped_questions: int


def _data(name: str) -> dict[str, object]:
    return json.loads(resources.files("kagura.bench").joinpath(f"data/{name}").read_text("utf-8"))


def load_mixed_questions() -> list[Question]:
    """The questions shipped as package data (``kagura/bench/data/mixed_questions.json``)."""
    questions = _data("mixed_questions.json")["questions"]
    assert isinstance(questions, list)
    return [Question(q["q"], tuple(q["answer"]), q["evidence"], q["kind"]) for q in questions]


def render_html_page(markdown_text: str, titles: list[str]) -> str:
    """One docs page as a documentation site serves it: title, navigation of every page, rendered body."""
    from markdown_it import MarkdownIt

    first = next((line for line in markdown_text.splitlines() if line.startswith("# ")), "# Lantern")
    links = "\n".join(f'<li><a href="#">{html.escape(t)}</a></li>' for t in titles)
    body = MarkdownIt().render(markdown_text)
    return _PAGE.format(title=html.escape(first[2:].strip()), links=links, body=body)


def build_mixed_tree(dest: Path) -> MixedTree:
    """Write the tree into ``dest`` (created) and return it with the questions it can answer."""
    files = _data("mixed_tree.json")["files"]
    assert isinstance(files, dict)
    texts: dict[str, str] = dict(files)
    pages = sorted(r for r in texts if r.startswith("docs/") and r.endswith(".md"))
    titles = [texts[p].splitlines()[0].lstrip("# ") for p in pages]
    for page in pages:
        texts[f"docs/html/{PurePosixPath(page).stem}.html"] = render_html_page(texts[page], titles)
    rich_root = Path(str(resources.files("rich")))
    for name in VENDOR_RICH:
        source = rich_root / name
        if source.is_file():
            texts[f"vendor/rich/{name}"] = source.read_text(encoding="utf-8")
    for relpath, text in texts.items():
        target = dest / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    kept = [
        q for q in load_mixed_questions() if all(a in texts and q.evidence in texts[a] for a in q.answers)
    ]
    total = len(load_mixed_questions())
    return MixedTree(dest, tuple(sorted(texts)), tuple(kept), total - len(kept))
