"""MultimodalRAG end to end, offline: incremental manifest, pruning, bad input, cancel + rerun, search."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from _rag_support import png, write

from kagura.core.memory import Document, IngestReport, MultimodalRAG, get_default_embedder


def _rag(tmp_path: Path | str, **kwargs: object) -> MultimodalRAG:
    """A RAG on ``tmp_path``: a directory (an SQLite file under it) or a ``postgresql://`` URL."""
    target = tmp_path if isinstance(tmp_path, str) else tmp_path / "store" / "kagura.db"
    return MultimodalRAG(target, **kwargs)  # type: ignore[arg-type]


async def test_changed_file_is_reprocessed_alone(tmp_path: Path, store_url: str | Path) -> None:
    corpus = tmp_path / "c"
    a = write(corpus / "a.md", "# Apples\n\nApples grow on trees in orchards.")
    write(corpus / "b.md", "# Boats\n\nBoats float on water.")
    rag = _rag(store_url if isinstance(store_url, str) else tmp_path)
    await rag.load_directory(corpus)
    a.write_text("# Apples\n\nApples are now about cider pressing.", encoding="utf-8")
    await rag.load_directory(corpus)
    report = rag.last_report
    assert report is not None
    assert report.indexed == [str(a)]
    assert report.unchanged == [str(corpus / "b.md")]
    hits = await rag.query("cider pressing", top_k=1)
    assert hits[0].relpath == "a.md" and "cider" in hits[0].text
    texts = [r.text for r in await rag.query("apples", top_k=10)]
    assert not any("orchards" in t for t in texts)  # the old chunks were replaced, not kept
    assert rag.store.counts()["documents"] == 2


async def test_deleted_file_disappears_from_search(tmp_path: Path, store_url: str | Path) -> None:
    corpus = tmp_path / "c"
    gone = write(corpus / "volcano.md", "# Volcanoes\n\nMagma erupts from volcanoes as lava.")
    write(corpus / "tea.md", "# Tea\n\nGreen tea is brewed at low temperature.")
    rag = _rag(store_url if isinstance(store_url, str) else tmp_path)
    await rag.load_directory(corpus)
    assert (await rag.query("lava eruption", top_k=1))[0].relpath == "volcano.md"
    gone.unlink()
    docs = await rag.load_directory(corpus)
    assert rag.last_report is not None and rag.last_report.pruned == [str(gone)]
    assert [d.relpath for d in docs] == ["tea.md"]
    assert {r.relpath for r in await rag.query("lava eruption", top_k=5)} == {"tea.md"}


async def test_identical_content_at_two_paths_gives_two_documents(
    tmp_path: Path, store_url: str | Path
) -> None:
    corpus = tmp_path / "c"
    write(corpus / "one/same.txt", "identical words about penguins")
    write(corpus / "two/same.txt", "identical words about penguins")
    rag = _rag(store_url if isinstance(store_url, str) else tmp_path)
    docs = await rag.load_directory(corpus)
    assert [d.relpath for d in docs] == ["one/same.txt", "two/same.txt"]
    assert {r.relpath for r in await rag.query("penguins", top_k=5)} == {"one/same.txt", "two/same.txt"}


async def test_offline_media_indexed_by_metadata_and_reported_not_described(
    tmp_path: Path, engine: str
) -> None:
    corpus = tmp_path / "c"
    photo = png(corpus / "sunset_beach.png", 5)
    rag = _rag(tmp_path)
    [doc] = await rag.load_directory(corpus, engine=engine)
    assert doc.file_type == "image" and not doc.described
    report = rag.last_report
    assert report is not None and report.not_described == [str(photo)] and report.llm_calls == 0
    [hit] = await rag.query("sunset beach", top_k=1, file_type="image")
    assert "sunset_beach.png" in hit.text


async def test_bad_inputs_all_reported_with_path_and_reason(tmp_path: Path, engine: str) -> None:
    corpus = tmp_path / "c"
    outside = write(tmp_path / "secret.txt", "outside the root: must never be read")
    write(corpus / "ok.md", "# Fine\n\nfine content")
    (corpus / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<< broken")
    (corpus / "latin1.txt").write_bytes("Café crème brûlée à la française, déjà vu.".encode("latin-1"))
    (corpus / "binary.md").write_bytes(b"\x00\x01\x02\xff\xfe" * 200)
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "huge.txt").write_bytes(b"x " * 3000)
    os.symlink(outside, corpus / "link-out.txt")
    os.symlink(corpus, corpus / "loop")
    rag = _rag(tmp_path, max_file_size=4000)
    docs = await rag.load_directory(corpus, engine=engine)
    report = rag.last_report
    assert report is not None and report.completed
    outcome = {Path(f.path).name: f.reason for f in report.failed}
    outcome |= {Path(s.path).name: s.rule for s in report.skipped}
    for name in ("corrupt.pdf", "binary.md", "empty.txt", "huge.txt", "link-out.txt"):
        assert outcome.get(name), f"{name} not reported: {outcome}"
    assert outcome["huge.txt"] == "too-large"
    assert "outside" in outcome["link-out.txt"]
    indexed = {d.relpath for d in docs}
    assert indexed == {"ok.md", "latin1.txt"}  # non-UTF-8 text is decoded, not dropped
    [hit] = await rag.query("crème brûlée", top_k=1, file_type="text")
    assert "Café crème brûlée" in hit.text
    assert not any("must never be read" in r.text for r in await rag.query("outside the root", top_k=10))
    # Nothing silently dropped: every entry under the root is indexed, failed or skipped.
    accounted = indexed | set(outcome)
    assert {p.name for p in corpus.iterdir()} <= accounted | {"loop"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_file_is_reported(tmp_path: Path, engine: str) -> None:
    corpus = tmp_path / "c"
    locked = write(corpus / "locked.txt", "no access")
    locked.chmod(0)
    try:
        rag = _rag(tmp_path)
        await rag.load_directory(corpus, engine=engine)
    finally:
        locked.chmod(0o644)
    assert rag.last_report is not None
    assert rag.last_report.failure_for(str(locked)) == "permission denied"


SAMPLE_CORPUS = Path(__file__).resolve().parents[3] / "src" / "kagura" / "demo_corpus"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestReport, list[Document]]:
    """The sample corpus ingested offline once for this module: (store path, report, documents)."""
    store = tmp_path_factory.mktemp("sample") / "kagura.db"
    rag = MultimodalRAG(store)
    docs = asyncio.run(rag.load_directory(SAMPLE_CORPUS))
    assert rag.last_report is not None
    rag.close()
    return store, rag.last_report, docs


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do clients obtain an OAuth access token?", "docs/auth-guide.md"),
        ("which planet has rings and a great red spot storm?", "docs/solar-system.pdf"),
        ("temples and shrines to visit in Japan during cherry blossom season", "travel/kyoto-itinerary.html"),
        ("download many URLs concurrently with retries", "code/async_downloader.py"),
        ("what changed in version 2.3: dark mode and CSV export", "release-notes.txt"),
    ],
)
async def test_retrieval_puts_the_right_sample_file_first(
    sample_store: tuple[Path, IngestReport, list[Document]], query: str, expected: str
) -> None:
    rag = MultimodalRAG(sample_store[0])
    hits = await rag.query(query, top_k=3)
    assert hits[0].relpath == expected, [(h.relpath, round(h.score, 3)) for h in hits]
    assert hits[0].path == str(SAMPLE_CORPUS / expected)
    assert hits[0].score >= hits[-1].score


async def test_sample_corpus_offline_indexes_every_file(
    sample_store: tuple[Path, IngestReport, list[Document]],
) -> None:
    store, report, docs = sample_store
    rag = MultimodalRAG(store)
    assert report.failed == [] and report.completed
    assert len(docs) == len(report.indexed) == 9
    assert {Path(p).suffix for p in report.not_described} == {".jpg", ".png", ".wav"}
    pdf = next(h for h in await rag.query("Saturn rings", top_k=5, file_type="pdf"))
    assert pdf.page == 2  # page numbers survive chunking


async def test_type_filter_is_applied_before_top_k(tmp_path: Path, store_url: str | Path) -> None:
    corpus = tmp_path / "c"
    for i in range(6):
        write(corpus / f"oauth{i}.md", f"# OAuth {i}\n\nOAuth access tokens and refresh tokens, variant {i}.")
    write(corpus / "misc.txt", "A note about gardening and tomatoes.")
    rag = _rag(store_url if isinstance(store_url, str) else tmp_path)
    await rag.load_directory(corpus)
    # The text file scores below every markdown file, yet a type-filtered top-1 still finds it.
    assert all(h.file_type == "markdown" for h in await rag.query("OAuth tokens", top_k=3))
    [hit] = await rag.query("OAuth tokens", top_k=1, file_type="text")
    assert hit.relpath == "misc.txt"


class GatedEmbedder:
    """The real embedder, except that call number ``block_at`` waits until it is cancelled."""

    def __init__(self, block_at: int) -> None:
        self.inner = get_default_embedder()
        self.name, self.dimension = self.inner.name, self.inner.dimension
        self.block_at = block_at
        self.calls = 0
        self.blocked = asyncio.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed(texts)

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.block_at:
            self.blocked.set()
            await asyncio.Event().wait()
        return await self.inner.aembed(texts)


async def test_cancel_mid_run_then_rerun_completes_without_duplicates(
    tmp_path: Path, store_url: str | Path
) -> None:
    corpus = tmp_path / "c"
    for i in range(8):
        write(corpus / f"f{i:02}.txt", f"file number {i} " + "with some words " * 30)
    reference = _rag(tmp_path / "ref")
    await reference.load_directory(corpus)
    expected = reference.store.counts()

    gated = GatedEmbedder(block_at=4)  # one file per embedding batch: 3 files stored, then stuck
    rag = MultimodalRAG(store_url, embedder=gated, embed_batch_size=1)
    task = asyncio.create_task(rag.load_directory(corpus, max_concurrent=2))
    await gated.blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rag.store.counts() == {"documents": 3, "chunks": 3, "vectors": 3, "manifest": 3}

    gated.block_at = 0
    docs = await rag.load_directory(corpus, max_concurrent=2)
    report = rag.last_report
    assert report is not None
    assert len(report.unchanged) == 3 and len(report.indexed) == 5
    assert len(docs) == 8
    assert rag.store.counts() == expected  # no duplicates, nothing missing


def test_bad_arguments_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="LLMConfig"):
        MultimodalRAG(tmp_path / "s.db", llm="gpt-4o")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlap"):
        MultimodalRAG(tmp_path / "s.db", chunk_size=100, overlap=100)
    with pytest.raises(ValueError, match="max_file_size"):
        MultimodalRAG(tmp_path / "s.db", max_file_size=0)


async def test_bad_call_arguments(tmp_path: Path) -> None:
    rag = _rag(tmp_path)
    with pytest.raises(ValueError, match="max_concurrent"):
        await rag.load_directory(tmp_path, max_concurrent=0)
    with pytest.raises(ValueError, match="not a directory"):
        await rag.load_directory(tmp_path / "missing")
    with pytest.raises(ValueError, match="top_k"):
        await rag.query("x", top_k=0)
    with pytest.raises(ValueError, match="unknown file_type"):
        await rag.query("x", file_type="spreadsheet")
    with pytest.raises(ValueError, match="non-empty"):
        await rag.query("   ")
    assert await rag.query("empty store") == []
