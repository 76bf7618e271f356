"""Every result of a text file carries the lines of the file it spans (``start_line``-``end_line``), stored by
both stores (migration 3), so a user can open the file at the passage."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from kagura.core.memory import MultimodalRAG
from kagura.loaders._text import markdown_sections

_GUIDE = """# Guide

Intro paragraph.

## Install

Run the installer
on every machine.

## Tokens

Tokens expire after twelve hours.
"""


def test_markdown_sections_know_their_first_line() -> None:
    assert [(s.section, s.line) for s in markdown_sections(_GUIDE)] == [
        ("Guide", 1),
        ("Guide > Install", 5),
        ("Guide > Tokens", 10),
    ]
    setext = markdown_sections("Title\n=====\n\ntext\n\nPart\n----\nmore\n")
    assert [(s.section, s.line) for s in setext] == [("Title", 1), ("Title > Part", 6)]


async def test_results_carry_the_lines_they_span_on_both_stores(
    tmp_path: Path, store_url: str | Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "guide.md").write_text(_GUIDE, encoding="utf-8")
    decoder = (Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py").read_text(encoding="utf-8")
    (root / "decoder.py").write_text(decoder, encoding="utf-8")
    rag = MultimodalRAG(store_url)
    try:
        await rag.load_directory(root)
        [hit] = await rag.query("tokens expire twelve hours", top_k=1, mode="keyword")
        assert (hit.relpath, hit.start_line, hit.end_line) == ("guide.md", 10, 12)
        assert hit.source() == "guide.md:10-12, § Guide > Tokens"
        lines = decoder.splitlines()
        for hit in await rag.query("JSONDecoder raw_decode scanstring", top_k=10, mode="keyword"):
            assert hit.relpath == "decoder.py" and hit.start_line is not None and hit.end_line is not None
            span = "\n".join(lines[hit.start_line - 1 : hit.end_line])
            first, last = hit.text.strip().splitlines()[0], hit.text.strip().splitlines()[-1]
            assert lines[hit.start_line - 1].strip() == first.strip(), (hit.start_line, first)
            assert last.strip() in span and lines[hit.end_line - 1].strip() == last.strip()
        assert hit.as_dict()["start_line"] == hit.start_line
    finally:
        rag.close()
