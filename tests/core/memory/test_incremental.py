"""Per-chunk incremental indexing: an edited file embeds only its changed chunks; embedders never mix."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

from kagura.core.memory import MultimodalRAG, get_default_embedder
from kagura.errors import StoreError
from kagura.testing import CountingEmbedder

GZIP = Path(sysconfig.get_paths()["stdlib"]) / "gzip.py"  # a real ~75-chunk file written by others


def _edit_line(path: Path, needle: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(needle) >= 1, needle
    path.write_text(text.replace(needle, new, 1), encoding="utf-8")


EDITS = [
    ("_COMPRESS_LEVEL_BEST = 9", "_COMPRESS_LEVEL_BEST = 8  # quokka"),  # a module constant
    ("Not a gzipped file", "Not a wombat file"),  # a string inside a method body
    ("Return the uncompressed stream file position indicator", "Tell the numbat position"),  # a docstring
]
# Each replacement carries one word found nowhere else, to find the edited chunk by keyword afterwards.


async def test_one_line_edit_in_a_70_chunk_file_re_embeds_at_most_three_chunks(
    tmp_path: Path, store_url: str | Path
) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    target = corpus / "gzip.py"
    shutil.copyfile(GZIP, target)
    counting = CountingEmbedder(get_default_embedder())
    rag = MultimodalRAG(store_url, embedder=counting)
    await rag.load_directory(corpus)
    total = rag.store.counts()["chunks"]
    assert total >= 60 and len(counting.texts) == total  # first run: every chunk embedded once

    for needle, replacement in EDITS:
        counting.reset()
        _edit_line(target, needle, replacement)
        await rag.load_directory(corpus)
        report = rag.last_report
        assert report is not None and report.indexed == [str(target)]
        assert 1 <= len(counting.texts) <= 3, [t[:60] for t in counting.texts]
        assert report.chunks_embedded == len(counting.texts)
        assert report.chunks_reused == rag.store.counts()["chunks"] - len(counting.texts)
        assert any(replacement in t for t in counting.texts)  # the changed chunk is among those embedded
        unique = next(w for w in ("quokka", "wombat", "numbat") if w in replacement)
        [hit] = await rag.query(unique, top_k=1, mode="keyword")  # the keyword index follows the edit
        assert replacement in hit.text
    rag.close()


class _Renamed:
    """The default embedder under another id: stands for a different model."""

    def __init__(self) -> None:
        self.inner = get_default_embedder()
        self.name, self.dimension = "other-model", self.inner.dimension

    def embed(self, texts):  # type: ignore[no-untyped-def]
        return self.inner.embed(texts)

    async def aembed(self, texts):  # type: ignore[no-untyped-def]
        return await self.inner.aembed(texts)


async def test_a_store_refuses_a_second_embedder_with_a_fix(tmp_path: Path, store_url: str | Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Tea\n\nGreen tea is brewed at low temperature.", encoding="utf-8")
    first = MultimodalRAG(store_url)
    await first.load_directory(corpus)
    first.close()
    other = MultimodalRAG(store_url, embedder=_Renamed())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=r"all-MiniLM-L6-v2.*other-model.*--store"):
        await other.load_directory(corpus)
    with pytest.raises(StoreError, match="other-model"):
        await other.query("tea")
    assert [r.relpath for r in await other.query("green tea", mode="keyword")] == [
        "a.md"
    ]  # no vectors needed
    assert other.store.counts()["vectors"] == 1
    other.close()
