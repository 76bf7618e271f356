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


def test_a_chunk_ending_with_a_repeated_line_spans_to_its_own_end() -> None:
    """A config file whose blocks all close with ``}``: the whole-file chunk ends at the file's last line,
    not at the first ``}``; blocks cut from a larger file keep their own lines."""
    from kagura.core.memory.ingestion.chunking._structure import chunk_document
    from kagura.loaders import Segment

    caddy = "{\n\temail ops@example.com\n}\n\nexample.com {\n\treverse_proxy app:8000\n}\n"
    [whole] = chunk_document([Segment(caddy, line=1)], relpath="Caddyfile", file_type="text",
                             chunk_size=800, overlap=0)  # fmt: skip
    assert (whole.start_line, whole.end_line) == (1, 7)
    blocks = "\n\n".join(f"site{i}.example {{\n\trespond {i}\n}}" for i in range(8))
    pieces = chunk_document([Segment(blocks, line=3)], relpath="big.conf", file_type="text",
                            chunk_size=60, overlap=0)  # fmt: skip
    lines = blocks.splitlines()
    for piece in pieces:
        assert piece.start_line is not None and piece.end_line is not None
        span = lines[piece.start_line - 3 : piece.end_line - 2]
        assert "\n".join(span).strip() == piece.text.strip(), (piece.start_line, piece.end_line)
