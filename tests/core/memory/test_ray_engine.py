"""engine="ray" against the local engine as the reference, on SQLite and on PostgreSQL: same report, same
progress, same store; on PostgreSQL the workers write and the driver does not; a worker killed mid-batch
loses nothing and indexes nothing twice; clear errors for bad arguments."""

from __future__ import annotations

import shutil
import sys
import sysconfig
import threading
from pathlib import Path
from typing import Any

import pytest
from _rag_support import png, write

from kagura.core.memory import IngestReport, MultimodalRAG, get_default_embedder
from kagura.errors import ConfigurationError
from kagura.testing import ExitOnceEmbedder

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _mixed_tree(root: Path) -> None:
    """Text, markdown, code, HTML, images, and files that fail or are skipped, in nested folders."""
    write(root / "notes" / "tea.md", "# Tea\n\nGreen tea is brewed at low temperature.")
    write(root / "notes" / "boats.txt", "Boats float on water and sail to the harbour.")
    write(root / "web" / "page.html", "<html><body><h1>Kyoto</h1><p>Temples and shrines.</p></body></html>")
    (root / "code").mkdir()
    shutil.copyfile(STDLIB / "gzip.py", root / "code" / "gzip.py")
    png(root / "pics" / "sunset.png", 3)
    png(root / "pics" / "harbour.png", 9)
    for i in range(12):
        write(
            root / "many" / f"f{i:02}.md", f"# Note {i}\n\nnote number {i} " + "about lighthouses " * (i + 1)
        )
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<< broken")
    (root / "empty.txt").write_bytes(b"")
    (root / "blob.md").write_bytes(b"\x00\x01\x02\xff\xfe" * 200)


def _edit(root: Path) -> None:
    """One line of a long file edited, one file deleted, one added, one emptied."""
    gz = root / "code" / "gzip.py"
    gz.write_text(gz.read_text().replace("Not a gzipped file", "Not a wombat file", 1))
    (root / "notes" / "boats.txt").unlink()
    write(root / "notes" / "new.md", "# New\n\nA new note about quokkas.")
    (root / "many" / "f03.md").write_text("")


def _view(report: IngestReport) -> dict[str, Any]:
    """The report without timings, its lists in a stable order."""
    data = report.as_dict()
    data.pop("timings")
    return {k: sorted(map(str, v)) if isinstance(v, list) else v for k, v in data.items()}


def _contents(rag: MultimodalRAG, root: Path) -> list[tuple[str, int, str]]:
    return sorted((d.relpath, d.chunks, d.content_hash) for d in rag.documents(root))


def _stores(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> tuple[str | Path, str | Path]:
    """Two empty stores of ``kind``: SQLite files, or two fresh PostgreSQL databases."""
    if kind == "sqlite":
        return tmp_path / "local.db", tmp_path / "ray.db"
    server = request.getfixturevalue("postgres_server")
    return server.new_database(), server.new_database()


class _DriverWrites:
    """A store wrapper counting the documents written through it, i.e. by the driver process."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes = 0

    def replace_document(self, *args: Any) -> int:
        self.writes += 1
        return self.inner.replace_document(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Ticks:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None, int]] = []

    def __call__(self, done: int, total: int | None, failed: int) -> None:
        self.calls.append((done, total, failed))


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_ray_run_reports_and_stores_exactly_what_the_local_engine_does(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    corpus = tmp_path / "c"
    _mixed_tree(corpus)
    local_store, ray_store = _stores(request, tmp_path, kind)
    local = MultimodalRAG(local_store)
    ray = MultimodalRAG(ray_store)
    driver = _DriverWrites(ray.store)
    ray._store = driver  # type: ignore[assignment]  # observe what the driver itself writes
    for step in ("first run", "rerun unchanged", "after edits"):
        if step == "after edits":
            _edit(corpus)
        ticks = {"local": _Ticks(), "ray": _Ticks()}
        await local.load_directory(corpus, on_progress=ticks["local"])
        await ray.load_directory(corpus, engine="ray", on_progress=ticks["ray"])
        assert local.last_report is not None and ray.last_report is not None
        assert _view(ray.last_report) == _view(local.last_report), step
        assert _contents(ray, corpus) == _contents(local, corpus), step
        assert ray.store.counts() == local.store.counts(), step
        # Progress: once per file, counting up to the total, with the same failures at the end.
        assert [c[0] for c in ticks["ray"].calls] == list(range(1, len(ticks["local"].calls) + 1)), step
        assert ticks["ray"].calls[-1] == ticks["local"].calls[-1], step
        if step == "first run":  # PostgreSQL: the workers wrote every file; SQLite: the driver did
            assert driver.writes == (0 if kind == "postgres" else len(ray.last_report.indexed))
    report = ray.last_report
    assert report is not None
    assert sorted(Path(p).name for p in report.indexed) == ["gzip.py", "new.md"]
    assert 1 <= report.chunks_embedded <= 3  # the edited file re-embeds only its changed chunks
    assert [Path(p).name for p in report.pruned] == ["boats.txt"]
    assert {Path(f.path).name for f in report.failed} == {"broken.pdf"}
    [hit] = await ray.query("wombat", top_k=1, mode="keyword")
    assert "Not a wombat file" in hit.text
    local.close()
    ray.close()


@pytest.mark.usefixtures("ray_cluster")
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_worker_killed_mid_batch_loses_nothing_and_indexes_nothing_twice(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    corpus = tmp_path / "c"
    for i in range(24):
        write(corpus / f"d{i // 8}" / f"f{i:02}.md", f"# File {i}\n\n" + f"words of file {i} " * 40)
    ref_store, store = _stores(request, tmp_path, kind)
    reference = MultimodalRAG(ref_store)
    await reference.load_directory(corpus)
    # One file per embedding call; the worker dies on its batch's second call. On PostgreSQL it has
    # then already written the batch's first file itself: the retry writes it again, replacing it.
    killer = ExitOnceEmbedder(get_default_embedder(), tmp_path / "killed", after=1)
    rag = MultimodalRAG(store, embedder=killer, embed_batch_size=1)  # type: ignore[arg-type]
    await rag.load_directory(corpus, engine="ray", ray_workers=2)
    assert killer.fired  # a worker process really died in the middle of a batch
    report = rag.last_report
    assert report is not None and report.failed == []
    assert len(report.indexed) == len(set(report.indexed)) == 24  # each file reported once
    assert report.chunks_added == reference.store.counts()["chunks"]  # and its chunks counted once
    assert _contents(rag, corpus) == _contents(reference, corpus)  # 0 lost
    assert rag.store.counts() == reference.store.counts()  # 0 duplicated (documents, chunks, vectors)
    await rag.load_directory(corpus, engine="ray")
    assert rag.last_report is not None and len(rag.last_report.unchanged) == 24
    reference.close()
    rag.close()


class _Unpicklable:
    """The default embedder, holding a lock: cannot travel to a Ray worker."""

    def __init__(self) -> None:
        self.inner = get_default_embedder()
        self.name, self.dimension = self.inner.name, self.inner.dimension
        self.lock = threading.Lock()

    def embed(self, texts: Any) -> Any:
        return self.inner.embed(texts)

    async def aembed(self, texts: Any) -> Any:
        return await self.inner.aembed(texts)


@pytest.mark.usefixtures("ray_cluster")
async def test_an_embedder_that_cannot_travel_is_a_configuration_error(tmp_path: Path) -> None:
    write(tmp_path / "c" / "a.md", "# A\n\napples")
    rag = MultimodalRAG(tmp_path / "s.db", embedder=_Unpicklable())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="picklable"):
        await rag.load_directory(tmp_path / "c", engine="ray")
    assert rag.store.counts()["documents"] == 0
    rag.close()


async def test_bad_engine_arguments_say_what_to_do(tmp_path: Path) -> None:
    write(tmp_path / "c" / "a.md", "# A\n\napples")
    rag = MultimodalRAG(tmp_path / "s.db")
    with pytest.raises(ValueError, match="'local', 'ray'"):
        await rag.load_directory(tmp_path / "c", engine="spark")
    with pytest.raises(ValueError, match="only used with engine='ray'"):
        await rag.load_directory(tmp_path / "c", ray_address="auto")
    with pytest.raises(ValueError, match="ray_workers"):
        await rag.load_directory(tmp_path / "c", engine="ray", ray_workers=0)
    rag.close()


async def test_missing_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when it is not installed
    write(tmp_path / "c" / "a.md", "# A\n\napples")
    rag = MultimodalRAG(tmp_path / "s.db")
    with pytest.raises(ConfigurationError, match=r"kagura\[ray\]"):
        await rag.load_directory(tmp_path / "c", engine="ray")
    rag.close()
