"""What a search returns on a real mixed tree: one result per file on request, the Markdown and HTML copies of
a page counted once, and hybrid scores a reader can take at face value (0 to 1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kagura.bench._mixed_tree import build_mixed_tree
from kagura.core.memory import MultimodalRAG, best_per_file


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed bench tree ingested once (default embedder) for every test of this module."""
    base = tmp_path_factory.mktemp("mixed")
    tree = build_mixed_tree(base / "tree")
    r = MultimodalRAG(base / "s.db")
    try:
        asyncio.run(r.load_directory(tree.root))
    finally:
        r.close()
    return base / "s.db"


@pytest.fixture
async def rag(mixed_store: Path) -> AsyncIterator[MultimodalRAG]:
    r = MultimodalRAG(mixed_store)
    yield r
    r.close()


QUESTIONS = [
    "How should I deploy behind a reverse proxy with TLS?",
    "How do environment variables override the settings file?",
    "rate limiting token bucket retry after 429",
]


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
async def test_per_file_gives_each_file_once_and_one_copy_of_a_page(rag: MultimodalRAG, mode: str) -> None:
    repeated = False
    for question in QUESTIONS:
        chunks = await rag.query(question, top_k=10, mode=mode)  # type: ignore[arg-type]
        files = await rag.query(question, top_k=5, mode=mode, per_file=True)  # type: ignore[arg-type]
        relpaths = [r.relpath for r in files]
        stems = [Path(p).stem for p in relpaths if p.endswith((".md", ".html"))]
        assert len(relpaths) == len(set(relpaths)) == 5, relpaths
        assert len(stems) == len(set(stems)), relpaths  # never docs/x.md and docs/html/x.html both
        assert files[0].chunk_id == chunks[0].chunk_id  # the best passage leads either way
        assert [r.score for r in files] == sorted((r.score for r in files), reverse=True)
        repeated |= len({Path(r.relpath).stem for r in chunks[:5]}) < 5
    assert repeated, "the chunk ranking repeats a file or page somewhere, so the grouping was put to work"


async def test_hybrid_scores_are_relevance_from_0_to_1(rag: MultimodalRAG) -> None:
    for question in QUESTIONS:
        hits = await rag.query(question, top_k=20)
        assert all(0.0 < r.score <= 1.0 for r in hits)
        assert hits[0].score >= 0.5  # first in at least one of the two rankings
        assert hits[0].score > hits[-1].score


def test_best_per_file_keeps_order_and_limit() -> None:
    from kagura.core.memory import SearchResult

    def hit(relpath: str, file_type: str, cid: int) -> SearchResult:
        return SearchResult(f"/r/{relpath}", "t", 1.0 / cid, None, None, file_type, relpath, cid, 0)

    hits = [
        hit("docs/api.md", "markdown", 1),
        hit("docs/html/api.html", "html", 2),
        hit("docs/api.md", "markdown", 3),
        hit("src/api.py", "code", 4),
        hit("other/api.md", "markdown", 5),  # same stem and format: another page, kept
        hit("docs/html/index.html", "html", 6),
    ]
    assert [r.chunk_id for r in best_per_file(hits)] == [1, 4, 5, 6]
    assert [r.chunk_id for r in best_per_file(hits, 2)] == [1, 4]
    with pytest.raises(TypeError, match="per_file"):
        asyncio.run(MultimodalRAG.query(object.__new__(MultimodalRAG), "x", per_file="yes"))  # type: ignore[arg-type]


async def test_short_config_files_win_on_their_name_kind_and_directives(rag: MultimodalRAG) -> None:
    """Prose pages about the proxy and the container outranked the files that hold the answer; the file's
    kind words (name column and embedded header) and its directives let the short file win."""
    for question, expected in (
        ("What address does Caddy reverse_proxy requests to?", "deploy/Caddyfile"),
        ("What is the maximum request body size nginx accepts?", "deploy/nginx.conf"),
        ("client_max_body_size", "deploy/nginx.conf"),
    ):
        hits = await rag.query(question, top_k=1, mode="keyword")
        assert hits[0].relpath == expected, (question, hits[0].relpath)


def test_file_kind_words_name_configuration_files() -> None:
    from kagura.core.memory.stores._file_kinds import file_kind_words, keyword_name, kind_label

    assert "container" in file_kind_words("deploy/Dockerfile")
    assert "reverse proxy" in file_kind_words("deploy/Caddyfile")
    assert "nginx" in file_kind_words("etc/nginx.conf") and "nginx" in file_kind_words("nginx/site.conf")
    assert "Compose" in file_kind_words("docker-compose.prod.yml")
    assert "CI workflow" in file_kind_words(".github/workflows/test.yml")
    assert file_kind_words("docs/guide.md") == "" and file_kind_words("src/app.py") == ""
    assert keyword_name("a/package.json").startswith("package.json npm")
    assert kind_label("README.md") == "README.md"


def test_query_identifiers_and_their_boost() -> None:
    from kagura.core.memory.search._identifiers import boost_identifiers, query_identifiers

    assert query_identifiers("What address does Caddy reverse_proxy requests to?") == ["reverse_proxy"]
    assert query_identifiers("os.path.join and maxAge, LANTERN_ vars") == ["os.path.join", "maxAge"]
    assert query_identifiers("front-end tests, e.g. vitest") == []  # English, not identifiers
    texts = {1: "a reverse proxy in front", 2: "reverse_proxy 127.0.0.1:8080", 3: "nothing"}
    hits = [(1, 10.0), (2, 9.0), (3, 1.0)]
    boosted = boost_identifiers("reverse_proxy", hits, lambda ids: {i: texts[i] for i in ids})
    assert boosted == [(2, 13.5), (1, 10.0), (3, 1.0)]
    assert boost_identifiers("reverse proxy", hits, lambda ids: {}) == hits  # nothing to look for
