"""Hybrid retrieval: reciprocal rank fusion, search modes, filters before ranking."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kagura.core.memory import MultimodalRAG
from kagura.core.memory.search._hybrid import check_mode, reciprocal_rank_fusion

_RANKING = st.lists(st.integers(0, 30), unique=True, max_size=15)


@given(_RANKING, _RANKING)
def test_fusion_keeps_every_item_once_and_rewards_agreement(a: list[int], b: list[int]) -> None:
    fused = reciprocal_rank_fusion([a, b])
    ids = [i for i, _ in fused]
    assert sorted(ids) == sorted(set(a) | set(b))
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    for item in set(a) & set(b):  # an item both lists rank at r or better beats one only one ranks at r
        for other in set(a) ^ set(b):
            ra, rb = a.index(item) if item in a else 99, b.index(item) if item in b else 99
            ro = a.index(other) if other in a else b.index(other)
            if max(ra, rb) <= ro:
                assert ids.index(item) < ids.index(other)


@given(_RANKING, _RANKING, st.randoms(use_true_random=False))
def test_fusion_never_depends_on_the_ids_themselves(a: list[int], b: list[int], rnd: random.Random) -> None:
    """The same rankings under other ids (another store's chunk ids) fuse in the same order, ties too."""
    ids = sorted(set(a) | set(b))
    other = dict(zip(ids, rnd.sample(range(1000), len(ids)), strict=True))
    fused = [i for i, _ in reciprocal_rank_fusion([a, b])]
    relabelled = [i for i, _ in reciprocal_rank_fusion([[other[i] for i in a], [other[i] for i in b]])]
    assert [other[i] for i in fused] == relabelled


def test_fusion_breaks_a_tie_by_the_first_list() -> None:
    # 7 and 3 both rank 1st in one list and 2nd in the other: the first list's order decides, not the id
    assert [i for i, _ in reciprocal_rank_fusion([[7, 3], [3, 7]])] == [7, 3]
    assert [i for i, _ in reciprocal_rank_fusion([[3, 7], [7, 3]])] == [3, 7]


def test_fusion_of_one_list_is_that_list_and_weights_are_checked() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([[5, 3, 9]])] == [5, 3, 9]
    with pytest.raises(ValueError, match="2 rankings but 1 weights"):
        reciprocal_rank_fusion([[1], [2]], weights=[1.0])
    with pytest.raises(ValueError, match="hybrid, vector, keyword"):
        check_mode("semantic")


@pytest.fixture
async def rag(tmp_path: Path, store_url: str | Path) -> AsyncIterator[MultimodalRAG]:
    corpus = tmp_path / "c"
    (corpus / "deploy").mkdir(parents=True)
    (corpus / "deploy" / "Dockerfile").write_text(
        "FROM python:3.12-slim\nHEALTHCHECK CMD curl -f http://localhost:8000/healthz || exit 1\n",
        encoding="utf-8",
    )
    (corpus / "deploy" / "Caddyfile").write_text(
        "example.com {\n    reverse_proxy app:8000\n}\n", encoding="utf-8"
    )
    (corpus / "ops.md").write_text(
        "# Operations\n\nThe service is monitored; if it stops answering, the container is restarted.\n\n"
        "# Proxy\n\nRequests reach the app through a proxy in front of it.",
        encoding="utf-8",
    )
    (corpus / "garden.txt").write_text("Tomatoes need sun, water and rich soil.", encoding="utf-8")
    r = MultimodalRAG(store_url)
    await r.load_directory(corpus)
    yield r
    r.close()


async def test_exact_words_are_found_by_keyword_and_hybrid(rag: MultimodalRAG) -> None:
    for query, expected in (("healthz", "deploy/Dockerfile"), ("reverse_proxy", "deploy/Caddyfile")):
        assert (await rag.query(query, top_k=1, mode="keyword"))[0].relpath == expected
        assert (await rag.query(query, top_k=1, mode="hybrid"))[0].relpath == expected
        assert (await rag.query(query, top_k=1))[0].relpath == expected  # hybrid is the default


async def test_modes_score_on_their_own_scales(rag: MultimodalRAG) -> None:
    vector = await rag.query("growing vegetables", top_k=5, mode="vector")
    assert vector[0].relpath == "garden.txt" and all(-1.0 <= r.score <= 1.0 for r in vector)
    assert await rag.query("growing vegetables", top_k=5, mode="keyword") == []  # no shared word
    hybrid = await rag.query("growing vegetables", top_k=5, mode="hybrid")
    assert hybrid[0].relpath == "garden.txt"  # the vector side alone still answers


async def test_type_filter_applies_before_ranking_in_every_mode(rag: MultimodalRAG) -> None:
    for mode in ("keyword", "vector", "hybrid"):
        hits = await rag.query("proxy app 8000", top_k=1, file_type="markdown", mode=mode)  # type: ignore[arg-type]
        assert [h.relpath for h in hits] == ["ops.md"], mode
        assert hits[0].section == "Proxy"


async def test_bad_mode_is_a_value_error(rag: MultimodalRAG) -> None:
    with pytest.raises(ValueError, match="unknown search mode"):
        await rag.query("x", mode="fuzzy")  # type: ignore[arg-type]
