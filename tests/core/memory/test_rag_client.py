"""MultimodalRAG calls the LLM through one client: given one (used as is, left open), or made once from an
``LLMConfig`` (owned, closed by ``aclose``). A fake provider injected into the client needs no HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from _rag_support import png, write

from kagura.core.llm import LLMClient, LLMConfig, PriceTable, SpendCap
from kagura.core.memory import MultimodalRAG
from kagura.testing import FakeProvider


async def test_media_are_described_and_questions_answered_through_the_client_given(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    png(corpus / "photo.png", seed=3)
    write(corpus / "notes.md", "# Lighthouse\n\nThe lighthouse keeper logs the weather every night.")
    fake = FakeProvider(lambda request: "a red lighthouse at dusk" if request.attachments else "the keeper")
    client = LLMClient(LLMConfig(model="vision-model"), provider=fake)
    rag = MultimodalRAG(tmp_path / "s.db", llm=client)
    assert rag.llm_client is client and rag.llm is client.config
    await rag.load_directory(corpus)
    report = rag.last_report
    assert report is not None and report.llm_calls == 1 and report.not_described == []
    assert (await rag.query("red lighthouse", top_k=1))[0].relpath == "photo.png"
    answer = await rag.ask("who logs the weather?", top_k=2)
    assert answer.text == "the keeper"
    assert [len(r.attachments) for r in fake.requests] == [1, 0]  # the description, then the answer
    await rag.aclose()
    assert await client.call("still open") == "the keeper"  # a client given is the caller's to close


async def test_a_config_becomes_one_owned_client(tmp_path: Path) -> None:
    config = LLMConfig(model="m", provider="fake")
    rag = MultimodalRAG(tmp_path / "s.db", llm=config)
    assert isinstance(rag.llm_client, LLMClient) and rag.llm_client.config is config and rag.llm is config
    other = MultimodalRAG(tmp_path / "t.db", llm=config)
    assert other.llm_client is not rag.llm_client  # no process-wide default client behind them
    await rag.aclose()
    await other.aclose()
    with pytest.raises(TypeError, match="LLMClient, an LLMConfig or None"):
        MultimodalRAG(tmp_path / "u.db", llm="gpt-4o")  # type: ignore[arg-type]


async def test_the_clients_spend_cap_holds_during_ingest(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    for i in range(3):
        png(corpus / f"p{i}.png", seed=i)
    fake = FakeProvider(lambda request: "a picture")
    prices = PriceTable.from_mapping({"m": {"input": 1.0, "output": 1.0}})
    cap = SpendCap(0.0)  # nothing may be spent: every description is refused before it is sent
    client = LLMClient(LLMConfig(model="m", max_tokens=50), provider=fake, prices=prices, spend_cap=cap)
    rag = MultimodalRAG(tmp_path / "s.db", llm=client)
    await rag.load_directory(corpus)
    report = rag.last_report
    assert report is not None and fake.requests == []
    assert sorted(Path(f.path).name for f in report.failed) == ["p0.png", "p1.png", "p2.png"]
    assert all("BudgetExceededError" in f.reason and "metadata only" in f.reason for f in report.failed)
    assert report.chunks_added == 3  # each still indexed, by its metadata
    rag.close()
