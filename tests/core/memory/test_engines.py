"""Engines are objects (issue 21 §3): ``load_directory(engine=LocalEngine() | RayEngine(...))`` behind one
protocol, ``engine="ray"`` a shorthand; and the Ray engine's edges (issue 20 §2): after a worker is killed
the report counts the LLM calls the provider received, the re-paid ones included."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _rag_support import images, llm_for, write

from kagura.core.memory import Engine, LocalEngine, MultimodalRAG, RayEngine, get_default_embedder
from kagura.core.memory.engines import engine_for
from kagura.errors import ConfigurationError
from kagura.testing import ExitOnceEmbedder, FakeLLMServer


class _Recording:
    """An engine of its own: the local one, noting each job it is given (any object with ``ingest`` and
    ``close`` is an engine)."""

    def __init__(self) -> None:
        self.jobs: list[int] = []
        self.closed = 0

    async def ingest(self, job: object) -> None:
        self.jobs.append(len(job.files))  # type: ignore[attr-defined]
        await LocalEngine().ingest(job)  # type: ignore[arg-type]

    def close(self) -> None:
        self.closed += 1


async def test_an_engine_object_runs_the_job_and_stays_the_callers(tmp_path: Path) -> None:
    write(tmp_path / "c" / "a.md", "# A\n\napples")
    write(tmp_path / "c" / "b.md", "# B\n\nbananas")
    engine = _Recording()
    assert isinstance(engine, Engine) and isinstance(LocalEngine(), Engine)
    rag = MultimodalRAG(tmp_path / "s.db")
    docs = await rag.load_directory(tmp_path / "c", engine=engine)
    assert engine.jobs == [2] and len(docs) == 2
    local = MultimodalRAG(tmp_path / "t.db")
    await local.load_directory(tmp_path / "c", engine=LocalEngine())
    assert rag.last_report is not None and local.last_report is not None
    assert sorted(rag.last_report.indexed) == sorted(local.last_report.indexed)
    rag.close()
    local.close()
    assert engine.closed == 0  # an engine passed in is closed by whoever made it


async def test_engine_misuse_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "c" / "a.md", "# A\n\napples")
    rag = MultimodalRAG(tmp_path / "s.db")
    with pytest.raises(TypeError, match="Engine"):
        await rag.load_directory(tmp_path / "c", engine=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"RayEngine\(\.\.\.\)"):
        await rag.load_directory(tmp_path / "c", engine=LocalEngine(), ray_address="auto")
    with pytest.raises(ValueError, match="workers"):
        RayEngine(workers=0)
    with pytest.raises(TypeError, match="address"):
        RayEngine(address=6379)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not 'auto'"):
        RayEngine(address="not a url")
    assert rag.store.counts()["documents"] == 0
    rag.close()


def test_the_shorthand_names_become_engines() -> None:
    local, made = engine_for("local")
    assert isinstance(local, LocalEngine) and made
    ray, made = engine_for("ray", ray_address="127.0.0.1:6379", ray_workers=3)
    assert isinstance(ray, RayEngine) and made
    assert (ray.address, ray.workers) == ("127.0.0.1:6379", 3)
    mine = RayEngine()
    assert engine_for(mine) == (mine, False)


def test_a_missing_ray_is_named_when_the_engine_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigurationError, match=r"kagura\[ray\]"):
        RayEngine()


@pytest.mark.usefixtures("ray_cluster")
async def test_a_ray_engine_object_is_reused_across_runs_and_stores(tmp_path: Path) -> None:
    write(tmp_path / "c" / "a.md", "# A\n\napples")
    with RayEngine(workers=1) as engine:
        first, second = MultimodalRAG(tmp_path / "1.db"), MultimodalRAG(tmp_path / "2.db")
        await first.load_directory(tmp_path / "c", engine=engine)
        await second.load_directory(tmp_path / "c", engine=engine)
        await first.load_directory(tmp_path / "c", engine=engine)
        assert first.last_report is not None and first.last_report.unchanged
        assert second.last_report is not None and len(second.last_report.indexed) == 1
        first.close()
        second.close()
    import ray

    assert ray.is_initialized()  # the session's cluster was there first: the engine leaves it be


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_after_a_worker_kill_llm_calls_count_what_the_provider_received(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    corpus = tmp_path / "c"
    images(corpus, 12)
    store = tmp_path / "s.db" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    # One image per embedding call; a worker dies on its batch's second call, after the batch's
    # descriptions were paid for: its retry pays again for those not stored yet.
    killer = ExitOnceEmbedder(get_default_embedder(), tmp_path / "killed", after=1)
    async with FakeLLMServer(responder=lambda m: "a small coloured square") as server:
        rag = MultimodalRAG(store, llm=llm_for(server), embedder=killer, embed_batch_size=1)  # type: ignore[arg-type]
        await rag.load_directory(corpus, engine="ray", ray_workers=2)
        requests = server.stats.chat_requests
    assert killer.fired
    report = rag.last_report
    assert report is not None and report.failed == []
    settled = [*report.indexed, *report.unchanged]  # unchanged: found described and stored by the killed one
    assert len(settled) == len(set(settled)) == 12
    assert requests > 12  # the killed worker's calls were paid again
    assert report.llm_calls == requests and report.llm_attempts == requests
    assert len(rag.documents(corpus)) == 12 and rag.store.counts()["documents"] == 12
    rag.close()
