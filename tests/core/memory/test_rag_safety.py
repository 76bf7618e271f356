"""Ingestion never loses good data: per-file isolation, only gone files pruned, skipped is not failed,
offline runs keep LLM descriptions, linear pruning (issue 10, "Data safety")."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from _rag_support import llm_for, png, write

from kagura.core.memory import IngestReport, MultimodalRAG, get_default_embedder
from kagura.core.memory.ingestion._pipeline import IngestRun, Progress
from kagura.core.memory.ingestion._prepare import Prepared
from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores._rows import ManifestEntry, NewDocument
from kagura.core.memory.stores.sqlite._store import RAGStore
from kagura.core.parallel import RetryPolicy
from kagura.testing import FakeLLMServer

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, jitter=False)


class PoisonEmbedder:
    """The default embedder, except that a batch holding the word POISON is refused as a whole (as a
    tokenizer refuses a batch holding one unencodable string)."""

    def __init__(self) -> None:
        self.inner = get_default_embedder()
        self.calls: list[int] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        if any("POISON" in t for t in texts):
            raise TypeError(
                "TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]"
            )
        return self.inner.embed(texts)

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self.embed(texts)


def _relpaths(rag: MultimodalRAG, corpus: Path) -> list[str]:
    return [d.relpath for d in rag.documents(corpus)]


async def test_one_file_refused_by_the_embedder_never_fails_its_neighbours(
    tmp_path: Path, engine: str
) -> None:
    corpus = tmp_path / "c"
    a = write(corpus / "a.md", "# A\n\napples in the orchard")
    b = write(corpus / "b.md", "# B\n\nboats on the water")
    embedder = PoisonEmbedder()
    rag = MultimodalRAG(tmp_path / "s.db", embedder=embedder)
    await rag.load_directory(corpus, engine=engine)
    # Both good files change; a new file poisons the embedding batch they share.
    a.write_text("# A\n\napples pressed into cider", encoding="utf-8")
    b.write_text("# B\n\nboats sailing to the harbour", encoding="utf-8")
    poison = write(corpus / "p.md", "# P\n\nPOISON")
    await rag.load_directory(corpus, engine=engine)
    report = rag.last_report
    assert report is not None
    assert sorted(report.indexed) == [str(a), str(b)]
    assert [f.path for f in report.failed] == [str(poison)]
    assert "embedding failed" in report.failed[0].reason
    assert _relpaths(rag, corpus) == ["a.md", "b.md"]
    assert "cider" in (await rag.query("cider", top_k=1))[0].text


def _prepared(path: str, text: str) -> Prepared:
    manifest = ManifestEntry(path, "markdown", "markdown-1", "", "", "e", "500/50")
    doc = NewDocument(path, "/r", path[3:], "text/markdown", 10, False, {}, manifest, [ChunkPiece(text, 0)])
    return Prepared(doc, [text])


async def test_the_writer_embeds_a_refused_batch_file_by_file(tmp_path: Path) -> None:
    """Deterministic: the three files are queued before the writer starts, so they form one batch."""
    embedder = PoisonEmbedder()
    store = RAGStore(tmp_path / "s.db")
    report = IngestReport(root="/r")
    run = IngestRun(
        store=store, embedder=embedder, preparer=None,  # type: ignore[arg-type]  # the writer never uses it
        report=report, progress=Progress(None, 3), embed_batch_size=64,
    )  # fmt: skip
    for item in (
        _prepared("/r/a.md", "apples"),
        _prepared("/r/p.md", "POISON"),
        _prepared("/r/b.md", "boats"),
    ):
        run._to_write.put_nowait(item)
    run._to_write.put_nowait(None)
    await run._write_stage()
    assert embedder.calls[0] == 3  # one batch first, refused as a whole
    assert sorted(report.indexed) == ["/r/a.md", "/r/b.md"]
    assert [(f.path, f.reason.split(":")[0]) for f in report.failed] == [("/r/p.md", "embedding failed")]
    assert sorted(store.paths_under("/r")) == ["/r/a.md", "/r/b.md"]
    store.close()


async def test_a_failed_file_keeps_its_previous_version(tmp_path: Path, engine: str) -> None:
    corpus = tmp_path / "c"
    good = write(corpus / "good.md", "# Good\n\nlighthouses guide ships")
    rag = MultimodalRAG(tmp_path / "s.db", embedder=PoisonEmbedder())
    await rag.load_directory(corpus, engine=engine)
    good.write_text("# Good\n\nPOISON", encoding="utf-8")  # this version cannot be embedded
    await rag.load_directory(corpus, engine=engine)
    assert rag.last_report is not None and rag.last_report.failure_for(str(good)) is not None
    assert "lighthouses" in (await rag.query("lighthouse", top_k=1))[0].text


async def test_names_that_are_not_utf8_are_indexed_with_an_escaped_name(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    write(corpus / "good.md", "# Good\n\ngardens full of roses")
    raw = os.path.join(os.fsencode(corpus), b"caf\xe9 notes.md")
    write(Path(os.fsdecode(raw)), "# Cafe\n\nespresso and croissants")
    png(Path(os.fsdecode(os.path.join(os.fsencode(corpus), b"ph\xf6to.png"))), 3)
    rag = MultimodalRAG(tmp_path / "s.db")
    await rag.load_directory(corpus)
    report = rag.last_report
    assert report is not None and report.failed == []
    docs = {d.relpath: d for d in rag.documents(corpus)}
    assert sorted(docs) == ["caf\\xe9 notes.md", "good.md", "ph\\xf6to.png"]
    assert bytes.fromhex(docs["caf\\xe9 notes.md"].metadata["path_bytes_hex"]) == raw
    assert (await rag.query("espresso", top_k=1))[0].relpath == "caf\\xe9 notes.md"
    await rag.load_directory(corpus)  # and the next run finds them unchanged
    assert rag.last_report is not None and len(rag.last_report.unchanged) == 3


async def test_skipped_is_not_failed_empty_binary_and_a_store_inside_the_folder(
    tmp_path: Path, engine: str
) -> None:
    corpus = tmp_path / "c"
    write(corpus / "notes.md", "# Notes\n\nreal content")
    write(corpus / "empty.txt", "")
    write(corpus / "pkg" / "__init__.py", "\n\n")
    (corpus / "blob.bin").write_bytes(bytes(range(256)) * 8)
    rag = MultimodalRAG(corpus / "kagura.db")  # the store lives inside the folder it indexes
    await rag.load_directory(corpus, engine=engine)
    await rag.load_directory(corpus, engine=engine)  # the store file now exists and has content
    report = rag.last_report
    assert report is not None
    assert report.failed == []
    rules = {Path(s.path).name: s.rule for s in report.skipped}
    assert rules["empty.txt"] == "empty" and rules["__init__.py"] == "empty"
    assert rules["blob.bin"] == "binary" and rules["kagura.db"] == "binary"


async def test_a_file_that_becomes_empty_loses_its_old_document(tmp_path: Path, engine: str) -> None:
    corpus = tmp_path / "c"
    f = write(corpus / "a.md", "# A\n\nsomething")
    rag = MultimodalRAG(tmp_path / "s.db")
    await rag.load_directory(corpus, engine=engine)
    f.write_text("", encoding="utf-8")
    await rag.load_directory(corpus, engine=engine)
    assert _relpaths(rag, corpus) == []


def _ingest(store: Path, corpus: Path) -> list[str]:
    """One offline ingest (in the calling process); returns the pruned paths."""
    rag = MultimodalRAG(store)
    try:
        asyncio.run(rag.load_directory(corpus))
        assert rag.last_report is not None
        return rag.last_report.pruned
    finally:
        rag.close()


def test_unreadable_files_and_folders_keep_their_documents(world_tmp: Path, unprivileged: Any) -> None:
    corpus = world_tmp / "c"
    write(corpus / "keep.md", "# Keep\n\nalways readable")
    locked = write(corpus / "locked.md", "# Locked\n\nsecret recipes")
    write(corpus / "sub" / "inner.md", "# Inner\n\nnested notes")
    for p in [corpus, *corpus.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o666)
    store = world_tmp / "store" / "s.db"
    store.parent.mkdir(mode=0o777)
    store.parent.chmod(0o777)
    get_default_embedder()  # loaded before the fork, so the child reads nothing it may not
    assert unprivileged(lambda: _ingest(store, corpus)) == []
    locked.chmod(0o000)
    (corpus / "sub").chmod(0o000)
    assert unprivileged(lambda: _ingest(store, corpus)) == []
    locked.chmod(0o666)
    (corpus / "sub").chmod(0o777)
    rag = MultimodalRAG(store)
    assert _relpaths(rag, corpus) == ["keep.md", "locked.md", "sub/inner.md"]
    rag.close()


async def test_extensionless_image_is_described_with_its_sniffed_type(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    png(corpus / "holiday-photo", 4)
    seen: list[str] = []

    def responder(messages: list[dict[str, object]]) -> str:
        seen.append(str(messages))
        return "a sunny beach"

    async with FakeLLMServer(responder=responder) as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server), retry=FAST)
        [doc] = await rag.load_directory(corpus)
    assert rag.last_report is not None and rag.last_report.failed == []
    assert doc.described and doc.mime_type == "image/png"
    assert "data:image/png;base64" in seen[0]


async def test_offline_run_keeps_llm_descriptions(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    png(corpus / "p.png", 9)
    async with FakeLLMServer(responder=lambda m: "a lighthouse at dusk") as server:
        online = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server), retry=FAST)
        await online.load_directory(corpus)
        online.close()
        offline = MultimodalRAG(tmp_path / "s.db")
        [doc] = await offline.load_directory(corpus)
        assert doc.described
        assert "lighthouse" in (await offline.query("lighthouse", top_k=1))[0].text
        offline.close()
        again = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server), retry=FAST)
        await again.load_directory(corpus)  # back online: nothing to pay for again
    assert again.last_report is not None and again.last_report.llm_calls == 0
    assert server.stats.requests == 1


class CountingStr(str):
    """A path whose hashing is counted: pruning must hash each path a bounded number of times."""

    hashes = 0

    def __hash__(self) -> int:
        CountingStr.hashes += 1
        return str.__hash__(self)


@pytest.mark.parametrize("n", [200, 2000])
def test_pruning_is_linear(n: int) -> None:
    from kagura.core.memory.ingestion._prune import plan_prune

    stored = [CountingStr(f"/r/d{i % 7}/f{i}.md") for i in range(n)]
    seen = stored[: n // 2]
    stale = stored[n // 2 : n // 2 + n // 4]
    CountingStr.hashes = 0
    plan = plan_prune(stored, seen, stale, ["/r/d3"])
    assert CountingStr.hashes <= 6 * n  # a set rebuilt per path would hash n * n / 4 times
    assert len(plan.stale) == n // 4
    assert all(not p.startswith("/r/d3/") for p in plan.gone)
    assert len(plan.gone) == sum(1 for p in stored[n // 2 + n // 4 :] if not p.startswith("/r/d3/"))
