"""MultimodalRAG with a misbehaving LLM: 429/500/timeouts retried then reported, and LLM-driven cases."""

from __future__ import annotations

from pathlib import Path

from _rag_support import images, llm_for, png, write

from kagura.core.memory import MultimodalRAG
from kagura.core.parallel import RetryPolicy
from kagura.testing import FakeLLMServer, Faults

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, jitter=False)


def _rag(tmp_path: Path, server: FakeLLMServer, **kwargs: object) -> MultimodalRAG:
    return MultimodalRAG(tmp_path / "s.db", llm=llm_for(server, **kwargs), retry=FAST)


async def test_rate_limited_call_is_retried_after_retry_after_and_succeeds(tmp_path: Path) -> None:
    png(tmp_path / "c" / "p.png", 1)
    async with FakeLLMServer(responder=lambda m: "a harbour with boats") as server:
        server.fail_next(429, retry_after=0.05)
        rag = _rag(tmp_path, server)
        [doc] = await rag.load_directory(tmp_path / "c")
    report = rag.last_report
    assert report is not None and report.failed == []
    assert (report.llm_calls, report.llm_attempts, server.stats.requests) == (1, 2, 2)
    assert doc.described
    assert "harbour" in (await rag.query("boats in a harbour", top_k=1))[0].text


async def test_server_errors_are_retried_then_reported_and_rerun_describes(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    photo = png(corpus / "p.png", 2)
    write(corpus / "notes.md", "# Notes\n\nplain text, no LLM needed")
    async with FakeLLMServer() as server:
        server.fail_next(500, count=3)
        rag = _rag(tmp_path, server)
        docs = await rag.load_directory(corpus)
        report = rag.last_report
        assert report is not None
        reason = report.failure_for(str(photo))
        assert reason is not None and "3 attempt(s)" in reason and "ServerError" in reason
        assert server.stats.requests == 3  # retried before being reported
        # Still searchable by its metadata, and marked as not described.
        assert {d.relpath: d.described for d in docs} == {"notes.md": False, "p.png": False}
        # The next run (server healthy) describes it, and only it.
        await rag.load_directory(corpus)
    report = rag.last_report
    assert report is not None
    assert report.indexed == [str(photo)] and report.unchanged == [str(corpus / "notes.md")]
    assert report.llm_calls == 1 and report.failed == []
    assert server.stats.requests == 4


async def test_timeouts_are_retried_then_reported(tmp_path: Path) -> None:
    photo = png(tmp_path / "c" / "p.png", 3)
    async with FakeLLMServer(faults=Faults(hang_every=1)) as server:
        rag = _rag(tmp_path, server, timeout=1.0)
        await rag.load_directory(tmp_path / "c")
        assert server.stats.requests >= 2  # the hung request was retried on a new one
    report = rag.last_report
    assert report is not None and report.completed and report.llm_attempts == 3
    reason = report.failure_for(str(photo))
    assert reason is not None and "Timeout" in reason and "3 attempt(s)" in reason


async def test_every_other_request_rate_limited_still_indexes_everything(tmp_path: Path) -> None:
    images(tmp_path / "c", 4)
    async with FakeLLMServer(faults=Faults(rate_limit_every=2, retry_after=0.01)) as server:
        rag = _rag(tmp_path, server)
        docs = await rag.load_directory(tmp_path / "c", max_concurrent=1)
    report = rag.last_report
    assert report is not None and report.failed == []
    assert all(d.described for d in docs) and len(docs) == 4
    assert report.llm_calls == 4 and report.llm_attempts == server.stats.requests == 7


async def test_fatal_llm_error_is_not_retried(tmp_path: Path) -> None:
    photo = png(tmp_path / "c" / "p.png", 4)
    async with FakeLLMServer() as server:
        server.fail_next(401)
        rag = _rag(tmp_path, server)
        await rag.load_directory(tmp_path / "c")
        assert server.stats.requests == 1
    report = rag.last_report
    assert report is not None
    reason = report.failure_for(str(photo))
    assert reason is not None and "AuthenticationError" in reason and "1 attempt(s)" in reason


async def test_file_deleted_during_the_run_is_reported(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    png(corpus / "a.png", 5)
    victim = png(corpus / "b.png", 6)

    def responder(messages: list[dict[str, object]]) -> str:
        victim.unlink(missing_ok=True)  # after b.png was scanned and hashed, before its own LLM call
        return "a picture"

    async with FakeLLMServer(responder=responder) as server:
        rag = _rag(tmp_path, server)
        docs = await rag.load_directory(corpus, max_concurrent=1)
    report = rag.last_report
    assert report is not None
    reason = report.failure_for(str(victim))
    assert reason is not None and "deleted" in reason
    assert [d.relpath for d in docs] == ["a.png"]
    assert server.stats.requests == 1  # the vanished file was never sent


async def test_going_online_describes_media_and_leaves_text_alone(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    images(corpus, 2)
    write(corpus / "t.md", "# T\n\ntext")
    offline = MultimodalRAG(tmp_path / "s.db")
    await offline.load_directory(corpus)
    assert offline.last_report is not None and len(offline.last_report.not_described) == 2
    offline.close()
    async with FakeLLMServer(responder=lambda m: "a tiny coloured square") as server:
        rag = _rag(tmp_path, server)
        await rag.load_directory(corpus)
        report = rag.last_report
        assert report is not None
        assert sorted(Path(p).name for p in report.indexed) == ["img00.png", "img01.png"]
        assert report.unchanged == [str(corpus / "t.md")]
        # A different model is reported and keeps the paid-for descriptions...
        other = MultimodalRAG(tmp_path / "s.db", llm=llm_for(server, model="fake-2"), retry=FAST)
        await other.load_directory(corpus)
        assert other.last_report is not None and other.last_report.llm_calls == 0
        assert sorted(Path(p).name for p in other.last_report.model_changed) == ["img00.png", "img01.png"]
        # ... and re-describes them only when asked to.
        await other.load_directory(corpus, redescribe=True)
    assert other.last_report is not None and other.last_report.llm_calls == 2
    assert other.last_report.model_changed == []
    assert server.stats.requests == 4


async def test_llm_receives_the_image_and_metadata(tmp_path: Path) -> None:
    png(tmp_path / "c" / "harbour.png", 6)
    async with FakeLLMServer() as server:
        rag = _rag(tmp_path, server)
        await rag.load_directory(tmp_path / "c")
    [body] = server.received
    parts = body["messages"][-1]["content"]
    assert any(p.get("type") == "image_url" for p in parts)
    text = " ".join(p.get("text", "") for p in parts)
    assert "harbour.png" in text


async def test_ask_answers_with_sources_through_the_llm(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    write(corpus / "auth.md", "# Auth\n\nClients exchange the authorization code for an access token.")
    write(corpus / "food.md", "# Food\n\nSourdough needs a starter.")
    async with FakeLLMServer(responder=lambda m: "Exchange the code for a token [1].") as server:
        rag = _rag(tmp_path, server)
        await rag.load_directory(corpus)
        answer = await rag.ask("How do clients get an access token?", top_k=1)
    assert answer.text == "Exchange the code for a token [1]."
    assert [s.relpath for s in answer.sources] == ["auth.md"]
    prompt = str(server.received[-1]["messages"])
    assert "authorization code" in prompt and "auth.md" in prompt


async def test_attachment_the_model_cannot_take_is_reported_once(tmp_path: Path) -> None:
    from PIL import Image

    corpus = tmp_path / "c"
    corpus.mkdir()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(corpus / "scan.tiff")  # not an OpenAI image type
    async with FakeLLMServer() as server:
        rag = _rag(tmp_path, server)
        [doc] = await rag.load_directory(corpus)
        report = rag.last_report
        assert report is not None
        reason = report.failure_for(str(corpus / "scan.tiff"))
        assert reason is not None and "cannot take" in reason and "metadata only" in reason
        assert not doc.described and server.stats.requests == 0  # refused before any request
        # Retrying can never help with this model: the next run leaves the file alone.
        await rag.load_directory(corpus)
        assert rag.last_report is not None and rag.last_report.unchanged == [str(corpus / "scan.tiff")]
