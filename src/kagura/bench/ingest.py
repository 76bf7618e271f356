"""``kagura bench ingest``: concurrent media ingestion vs serial, incremental re-run, embedding, search.

Rows printed (one run, side by side):

* ``ingest N LLM-described files``: N images described by the loopback fake LLM (in its own process,
  like a remote server) at latency L, ``max_concurrent`` 1 (serial) vs 5, with the ideal
  ``ceil(N/5)·L``; ``extra`` has the re-run time on the unchanged tree and
  its fraction of the first run (goal < 5 %), and the LLM calls the re-run made (must be 0).
* ``embed chunks``: local embedding throughput of the whole pipeline (offline ingest of text files) vs the
  raw embedder on the same chunk texts, in chunks/s.
* ``search K chunks``: mean and p95 latency of ``MultimodalRAG.query`` (query embedding included) and
  of the search alone (exact cosine top-k over the cached matrix + chunk fetch) over K synthetic chunks
  (goal < 50 ms at 100k).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from kagura.bench._report import BenchRow
from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.memory import Embedder, MultimodalRAG, OpenAIEmbedder, get_default_embedder
from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece
from kagura.core.memory.stores._vectors import top_k_cosine
from kagura.core.memory.stores.sqlite._store import ManifestEntry, NewDocument, RAGStore
from kagura.errors import WorkerProcessError

__all__ = ["run"]

_TOPICS = ("rivers", "compilers", "gardening", "volcanoes", "databases", "violins", "glaciers", "chess")


def _sqlite(rag: MultimodalRAG) -> RAGStore:
    """The bench's stores are SQLite files: their cached vector matrix is what this benchmark measures."""
    store = rag.store
    assert isinstance(store, RAGStore)
    return store


def _write_images(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (16 + i, 16), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(
            folder / f"img{i:03}.png"
        )


def _write_texts(folder: Path, n: int, paragraphs: int = 40) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        topic = _TOPICS[i % len(_TOPICS)]
        body = " ".join(
            f"Paragraph {j} of note {i} about {topic}: facts, figures and remarks number {j}."
            for j in range(paragraphs)
        )
        (folder / f"note{i:03}.txt").write_text(body, encoding="utf-8")


_SERVER_SCRIPT = """
import asyncio, sys
from kagura.testing import FakeLLMServer

async def main():
    async with FakeLLMServer(latency=float(sys.argv[1])) as server:
        print(server.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def _server_process(latency: float) -> AsyncIterator[str]:
    """A FakeLLMServer in its own process (like a real remote LLM): yields its base URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SERVER_SCRIPT, str(latency), stdin=PIPE, stdout=PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise WorkerProcessError("the fake LLM server process did not start")
        yield line.decode().strip()
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _ingest_media(n: int, latency: float, tmp: Path, embedder: Embedder, label: str) -> BenchRow:
    corpus = tmp / f"media{n}"
    if not corpus.exists():
        _write_images(corpus, n)
    times: dict[int, float] = {}
    rerun = 0.0
    rerun_calls = -1
    async with (
        _server_process(latency) as base_url,
        LLMClient(LLMConfig(model="fake", base_url=base_url, api_key="test")) as llm,
    ):  # one client for every run, as an application holds one (its SDK client and pool warm)
        warm = tmp / f"warm-{label}"
        _write_images(warm, 2)  # first calls pay for client setup and imports: not part of the measure
        await MultimodalRAG(tmp / f"warm-{n}-{label}.db", llm=llm, embedder=embedder).load_directory(warm)
        for c in (1, 5):
            rag = MultimodalRAG(tmp / f"media{n}-c{c}-{label}.db", llm=llm, embedder=embedder)
            started = time.perf_counter()
            await rag.load_directory(corpus, max_concurrent=c)
            times[c] = time.perf_counter() - started
            if c == 5:
                started = time.perf_counter()
                await rag.load_directory(corpus, max_concurrent=c)
                rerun = time.perf_counter() - started
                assert rag.last_report is not None
                rerun_calls = rag.last_report.llm_calls
            rag.close()
    return BenchRow(
        operation=f"ingest {n} LLM-described files (C=1 vs 5, L={latency}s, {label} embeddings)",
        items=n,
        serial_s=times[1],
        parallel_s=times[5],
        ideal_s=math.ceil(n / 5) * latency,
        extra={
            "ideal_serial_s": n * latency,
            "serial_ratio_to_ideal": n * latency / times[1],
            "rerun_s": rerun,
            "rerun_fraction_of_first": rerun / times[5],
            "rerun_llm_calls": rerun_calls,
        },
        checks=[("ratio_to_ideal", ">=", 0.95), ("rerun_fraction_of_first", "<=", 0.05),
                ("rerun_llm_calls", "<=", 0)],
    )  # fmt: skip


async def _embedding_throughput(
    n_files: int, tmp: Path, embedder: Embedder, paragraphs: int = 40
) -> BenchRow:
    corpus = tmp / "texts"
    _write_texts(corpus, n_files, paragraphs)
    rag = MultimodalRAG(tmp / "texts.db", embedder=embedder)
    await embedder.aembed(["warm up: load the weights before measuring"])
    started = time.perf_counter()
    await rag.load_directory(corpus, max_concurrent=5)
    pipeline = time.perf_counter() - started
    assert rag.last_report is not None
    chunks = rag.last_report.chunks_added
    rows = rag.store.chunks([int(i) for i in _sqlite(rag).vector_index(rag.embedder.name).chunk_ids])
    texts = [row.text for row in rows.values()]
    rag.close()
    started = time.perf_counter()
    for i in range(0, len(texts), 64):
        rag.embedder.embed(texts[i : i + 64])
    raw = time.perf_counter() - started
    return BenchRow(
        operation=f"embed {chunks} chunks: raw embedder vs whole pipeline",
        items=chunks,
        serial_s=raw,
        parallel_s=pipeline,
        extra={"raw_chunks_per_s": chunks / raw, "pipeline_chunks_per_s": chunks / pipeline},
    )


def _fill_store(rag: MultimodalRAG, n_chunks: int, dim: int, name: str) -> None:
    rng = np.random.default_rng(0)
    per_doc = 500
    for d in range(math.ceil(n_chunks / per_doc)):
        k = min(per_doc, n_chunks - d * per_doc)
        vecs = rng.standard_normal((k, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        manifest = ManifestEntry(f"h{d}", "text", "1", "", "", name, "synthetic")
        chunks = [ChunkPiece(f"synthetic chunk {d}-{i}", i) for i in range(k)]
        path = f"/synthetic/doc{d}.txt"
        doc = NewDocument(path, "/synthetic", f"doc{d}.txt", "text/plain", 0, False, {}, manifest, chunks)
        rag.store.replace_document(doc, vecs, name)


async def _search_latency(n_chunks: int, tmp: Path, embedder: Embedder) -> BenchRow:
    rag = MultimodalRAG(tmp / f"search{n_chunks}.db", embedder=embedder)
    await asyncio.to_thread(_fill_store, rag, n_chunks, rag.embedder.dimension, rag.embedder.name)
    await rag.query("warm up the cache", top_k=5)
    samples, vector_only = [], []
    index = _sqlite(rag).vector_index(rag.embedder.name)
    for i in range(20):
        text = f"question number {i} about {_TOPICS[i % len(_TOPICS)]}"
        started = time.perf_counter()
        await rag.query(text, top_k=5)
        samples.append(time.perf_counter() - started)
        query = rag.embedder.embed([text])[0]
        started = time.perf_counter()
        hits = top_k_cosine(index.matrix, query, 5)
        rag.store.chunks([int(index.chunk_ids[row]) for row, _ in hits])
        vector_only.append(time.perf_counter() - started)
    rag.close()
    mean, search = statistics.fmean(samples), statistics.fmean(vector_only)
    p95 = sorted(samples)[int(0.95 * (len(samples) - 1))]
    return BenchRow(
        operation=f"search {n_chunks} chunks, top 5: whole query vs cosine top-k + chunk fetch",
        items=n_chunks,
        serial_s=mean,
        parallel_s=search,
        extra={
            "query_mean_ms": mean * 1000,
            "query_p95_ms": p95 * 1000,
            "search_only_mean_ms": search * 1000,
            "goal_ms": 50,
        },
        checks=[("search_only_mean_ms", "<=", 50)],
    )


async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """Every ingestion measurement.

    Default: 10 LLM-described files, 6 short text files embedded, search over 20,000 chunks. ``full`` (the
    guide's tables): 10 and 50 files, the same 10 with local MiniLM embeddings, 24 text files, 100,000
    chunks. ``quick`` shrinks sizes to finish in a few seconds.
    """
    embedder = get_default_embedder()
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="kagura-bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        # The scheduling rows embed through a zero-latency loopback embeddings endpoint, so they measure
        # the pipeline's overlap of LLM calls; the local-MiniLM row shows the same run with CPU embedding.
        # That endpoint runs in its own process, as the LLM's does: served on the client's event loop, its
        # CPU (both ends of every embeddings request) was counted in the pipeline's time.
        async with _server_process(0.0) as embed_url:
            remote = OpenAIEmbedder("fake-embed", base_url=embed_url, api_key="test")
            for n in (10, 50) if full else (10,):
                rows.append(await _ingest_media(n, latency, tmp, remote, "loopback"))
        if full:
            rows.append(await _ingest_media(10, latency, tmp, embedder, "local MiniLM"))
        texts, paragraphs = (2, 5) if quick else (24, 40) if full else (6, 10)
        rows.append(await _embedding_throughput(texts, tmp, embedder, paragraphs))
        rows.append(await _search_latency(5_000 if quick else 100_000 if full else 20_000, tmp, embedder))
    return rows


def _print(rows: list[BenchRow]) -> None:
    for row in rows:
        ratio = "" if row.ratio_to_ideal is None else f" ratio_to_ideal={row.ratio_to_ideal:.3f}"
        print(f"{row.operation}: serial={row.serial_s:.3f}s parallel={row.parallel_s:.3f}s{ratio}")
        for key, value in row.extra.items():
            print(f"    {key} = {value:.4f}" if isinstance(value, float) else f"    {key} = {value}")


if __name__ == "__main__":
    _print(asyncio.run(run(quick="--quick" in sys.argv, full="--full" in sys.argv)))
