"""The seed's eight tests for concurrent multimodal loading, against the loopback fake LLM server."""

from __future__ import annotations

from pathlib import Path

from _rag_support import Waves, images, llm_for, png, write

from kagura.core.memory import MultimodalRAG
from kagura.testing import FakeLLMServer


async def test_parallel_file_loading(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for i in range(4):
        write(corpus / f"notes/n{i}.md", f"# Note {i}\n\nThis note is about topic number {i}.")
    images(corpus / "pics", 4)
    async with FakeLLMServer(responder=Waves(4, 4)) as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server))
        docs = await rag.load_directory(corpus, max_concurrent=4)
    assert sorted(d.relpath for d in docs) == sorted(
        [f"notes/n{i}.md" for i in range(4)] + [f"pics/img{i:02}.png" for i in range(4)]
    )
    assert server.stats.requests == 4  # one description per image, none for text
    assert server.stats.max_in_flight == 4
    report = rag.last_report
    assert report is not None and len(report.indexed) == 8 and report.failed == []
    assert all(d.described for d in docs if d.file_type == "image")


async def test_concurrent_file_processing(tmp_path: Path) -> None:
    images(tmp_path / "corpus", 6)
    waves = Waves(3, 6)
    async with FakeLLMServer(responder=waves) as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server))
        await rag.load_directory(tmp_path / "corpus", max_concurrent=3)
    # Several files were inside their LLM call at the same moment: processing overlapped.
    assert server.stats.max_in_flight == 3
    assert server.stats.requests == 6
    assert waves.waves == [3, 3]


async def test_max_concurrent_limit(tmp_path: Path) -> None:
    images(tmp_path / "corpus", 8)
    for limit in (1, 2, 5):
        async with FakeLLMServer(responder=Waves(limit, 8)) as server:
            rag = MultimodalRAG(tmp_path / f"s{limit}.db", llm=llm_for(server))
            await rag.load_directory(tmp_path / "corpus", max_concurrent=limit)
        assert server.stats.max_in_flight == limit  # reached, never exceeded
        assert server.stats.requests == 8


async def test_loading_performance(tmp_path: Path) -> None:
    """Overlap, proven by the server's in-flight counter: 10 files at C=5 run as two waves of 5."""
    images(tmp_path / "corpus", 10)
    waves = Waves(5, 10)
    async with FakeLLMServer(responder=waves) as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server))
        await rag.load_directory(tmp_path / "corpus", max_concurrent=5)
    assert server.stats.max_in_flight == 5
    assert server.stats.requests == 10
    assert waves.waves == [5, 5]  # two round trips' worth of waiting instead of ten
    report = rag.last_report
    assert report is not None and report.llm_calls == 10 and len(report.indexed) == 10


async def test_error_handling(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    good = write(corpus / "good.md", "# Good\n\nA perfectly fine document about lighthouses.")
    bad_pdf = corpus / "broken.pdf"
    bad_pdf.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n%%EOF")
    binary = corpus / "data.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    png(corpus / "photo.png", 1)
    async with FakeLLMServer(latency=0.0) as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server))
        docs = await rag.load_directory(corpus, max_concurrent=2)
    report = rag.last_report
    assert report is not None and report.completed
    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert failed.get("broken.pdf")
    assert str(good) in report.indexed
    assert {d.relpath for d in docs} >= {"good.md", "photo.png"}
    # The binary "text" file is not indexed as text: it is reported (failed or skipped) with a reason.
    skipped = {Path(s.path).name: s.rule for s in report.skipped}
    assert failed.get("data.txt") or skipped.get("data.txt")
    assert "data.txt" not in {d.relpath for d in docs}


async def test_mixed_file_types(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "readme.md", "# Readme\n\nInstallation steps for the widget.")
    write(corpus / "main.py", "def add(a, b):\n    return a + b\n")
    write(corpus / "data.json", '{"city": "Lisbon", "population": 545000}')
    write(corpus / "table.csv", "name,colour\napple,red\nbanana,yellow\n")
    write(corpus / "page.html", "<html><body><h1>Tides</h1><p>The moon drives the tides.</p></body></html>")
    write(corpus / "plain.txt", "Just some plain words about bicycles.")
    png(corpus / "pic.png", 3)
    async with FakeLLMServer(latency=0.0, responder=lambda messages: "a red square on white") as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server))
        docs = await rag.load_directory(corpus)
    types = {d.relpath: d.file_type for d in docs}
    assert types == {
        "readme.md": "markdown",
        "main.py": "code",
        "data.json": "json",
        "table.csv": "csv",
        "page.html": "html",
        "plain.txt": "text",
        "pic.png": "image",
    }
    only_images = await rag.query("red square", top_k=5, file_type="image")
    assert [r.relpath for r in only_images] == ["pic.png"]
    assert "a red square on white" in only_images[0].text


async def test_caching(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    images(corpus, 4)
    write(corpus / "a.md", "# A\n\nalpha")
    async with FakeLLMServer(latency=0.0) as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server))
        await rag.load_directory(corpus)
        first = server.stats.requests
        chunks_before = rag.store.counts()
        docs = await rag.load_directory(corpus)
        assert server.stats.requests == first == 4  # the rerun made zero LLM calls
    report = rag.last_report
    assert report is not None
    assert report.llm_calls == 0 and report.indexed == [] and len(report.unchanged) == 5
    assert report.cache_hits == 5
    assert rag.store.counts() == chunks_before
    assert len(docs) == 5


async def test_progress_tracking(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    images(corpus, 3)
    for i in range(3):
        write(corpus / f"t{i}.txt", f"text file {i}")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    calls: list[tuple[int, int | None, int]] = []
    async with FakeLLMServer(latency=0.0) as server:
        rag = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server))
        await rag.load_directory(corpus, max_concurrent=3, on_progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == list(range(1, 8))  # one call per file, done counting up
    assert {c[1] for c in calls} == {7}
    assert calls[-1][2] == 1  # the broken PDF
    assert [c[2] for c in calls] == sorted(c[2] for c in calls)
