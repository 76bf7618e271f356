import itertools
from dataclasses import dataclass

import pytest

from kagura.core.memory.ingestion.chunking._pieces import chunk_segments, split_text


@dataclass
class Seg:
    text: str
    page: int | None = None
    section: str | None = None


def test_short_text_is_one_chunk() -> None:
    assert split_text("  hello world  ", 100, 10) == ["hello world"]


def test_empty_text_gives_no_chunk() -> None:
    assert split_text(" \n\t ", 100, 10) == []


def test_chunks_respect_size_and_cover_every_word() -> None:
    words = [f"w{i}" for i in range(500)]
    text = " ".join(words)
    pieces = split_text(text, 100, 20)
    assert all(len(p) <= 100 for p in pieces)
    seen = {w for p in pieces for w in p.split()}
    assert seen == set(words)  # nothing lost, no word cut in half


def test_consecutive_chunks_overlap() -> None:
    text = " ".join(f"token{i}" for i in range(300))
    pieces = split_text(text, 120, 30)
    assert len(pieces) > 2
    for a, b in itertools.pairwise(pieces):
        assert a.split()[-1] in b.split()[:6]  # the next chunk starts inside the previous one's tail


def test_no_overlap_partitions_text() -> None:
    text = " ".join(f"t{i}" for i in range(200))
    pieces = split_text(text, 50, 0)
    assert " ".join(pieces).split() == text.split()


def test_prefers_paragraph_breaks() -> None:
    para1 = "Alpha sentence one. " * 3
    para2 = "Beta sentence two. " * 3
    pieces = split_text(para1.strip() + "\n\n" + para2.strip(), 80, 0)
    assert pieces[0].startswith("Alpha") and pieces[0].endswith("one.")
    assert pieces[1].startswith("Beta")


def test_segments_keep_page_and_section_and_ordinals_run_on() -> None:
    segs = [Seg("a " * 100, page=1), Seg("b " * 100, page=2, section="Intro")]
    chunks = chunk_segments(segs, 60, 10)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert {c.page for c in chunks if "a" in c.text.split()} == {1}
    assert {(c.page, c.section) for c in chunks if "b" in c.text.split()} == {(2, "Intro")}
    assert not any("a" in c.text.split() and "b" in c.text.split() for c in chunks)  # never spans segments


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1), (10, 20)])
def test_bad_parameters_raise_value_error(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match=r"chunk_size|overlap"):
        split_text("x", size, overlap)
