"""``MultimodalRAG``: incremental multimodal ingestion of a directory into a store, and hybrid search.

The store is an SQLite file (a path, the default) or PostgreSQL + pgvector (a ``postgresql://`` URL, extra
``kagura[postgres]``): see :mod:`kagura.core.memory.stores`.

Pipeline of ``load_directory`` (each blocking step off the event loop):

    scan (loaders) -> per file, through the scheduler (``_pipeline``):
        hash + detect -> manifest check (unchanged: done) -> extract -> chunk        [max_concurrent]
        -> media: one LLM description, retried                                      [max_concurrent]
        -> embed in batches across files -> store each file in its own transaction   [one writer]
    -> prune the files that are gone (a file or folder unreadable now, or failing, keeps its documents).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kagura.core.memory._chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, check_chunking
from kagura.core.memory._grouping import best_per_file
from kagura.core.memory._hashing import embedder_id
from kagura.core.memory._hybrid import RRF_K, SearchMode, check_mode, reciprocal_rank_fusion
from kagura.core.memory._identifiers import boost_identifiers, query_identifiers
from kagura.core.memory._report import Document, IngestReport, SearchResult, SkippedPath
from kagura.core.memory.embedders import Embedder, get_default_embedder
from kagura.core.memory.stores import RAGStoreProtocol, check_target, open_claims, open_rag_store
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol

# Only ingestion (and ``ask``) needs the LLM layer, the scheduler, the loaders, the pipeline and Ray: they
# are imported where used, so a process that only searches (every ``kagura search``) never loads them.
if TYPE_CHECKING:
    from kagura.core.llm import LLMConfig
    from kagura.core.memory._answer import Answer
    from kagura.core.memory._pipeline import ProgressCallback
    from kagura.core.memory._ray_engine import RayWorkers
    from kagura.core.memory._ray_worker import WorkerSpec
    from kagura.core.memory.stores import HNSWParams
    from kagura.core.parallel import RetryPolicy

__all__ = ["MultimodalRAG"]

EMBED_BATCH = 64
FUSION_DEPTH = 50
"""Candidates taken from each ranking before a hybrid search fuses them."""
PER_FILE_FACTOR = 5
"""``query(per_file=True)`` ranks this many chunks per result wanted, then keeps each file's best."""


class MultimodalRAG:
    """Index a directory of mixed files into one store (an SQLite path or a ``postgresql://`` URL) and search
    it. ``hnsw`` tunes the PostgreSQL vector index (``HNSWParams``).

    ``llm=None`` runs fully offline (media indexed by metadata and file name); with an ``LLMConfig``,
    images/audio/video are described by the model, one call per file. ``embedder`` defaults to the local
    MiniLM embedder. ``chunk_size``/``overlap`` are in characters; ``max_file_size`` in bytes.
    ``embed_batch_size``: chunks gathered (across files) per embedding call; ``retry``: for LLM calls.
    """

    def __init__(
        self,
        store_path: str | Path,
        llm: LLMConfig | None = None,
        *,
        embedder: Embedder | None = None,
        hnsw: HNSWParams | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        overlap: int = DEFAULT_OVERLAP,
        max_file_size: int = 50 * 2**20,
        retry: RetryPolicy | None = None,
        embed_batch_size: int = EMBED_BATCH,
    ) -> None:
        target = check_target(store_path, "store_path")
        if llm is not None and not isinstance(llm, _llm_config()):
            raise TypeError(f"llm must be an LLMConfig or None (offline), got {type(llm).__name__}")
        check_chunking(chunk_size, overlap)
        if isinstance(max_file_size, bool) or not isinstance(max_file_size, int) or max_file_size < 1:
            raise ValueError(f"max_file_size must be a positive number of bytes, got {max_file_size!r}")
        if (
            isinstance(embed_batch_size, bool)
            or not isinstance(embed_batch_size, int)
            or embed_batch_size < 1
        ):
            raise ValueError(f"embed_batch_size must be an int >= 1, got {embed_batch_size!r}")
        self.embed_batch_size = embed_batch_size
        self.store_path: str | Path = target
        """The SQLite file (a Path) or the ``postgresql://`` URL (a str) of the store."""
        self.llm = llm
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.max_file_size = max_file_size
        self.retry = retry
        self._embedder = embedder
        self._store: RAGStoreProtocol = (
            open_rag_store(target) if hnsw is None else open_rag_store(target, hnsw=hnsw)
        )
        self._claims: DescriptionClaimsProtocol | None = None
        self.last_report: IngestReport | None = None
        self._ray: RayWorkers | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedder in use (the cached local MiniLM one unless another was given)."""
        if self._embedder is None:
            self._embedder = get_default_embedder()
        return self._embedder

    async def _aembedder(self) -> Embedder:
        """The embedder, loading the default model's weights off the event loop the first time."""
        if self._embedder is None:
            self._embedder = await asyncio.to_thread(get_default_embedder)
        return self._embedder

    @property
    def store(self) -> RAGStoreProtocol:
        """The store (SQLite or PostgreSQL); its methods are blocking."""
        return self._store

    def close(self) -> None:
        """Close the store's connections (SQLite) or connection pools (PostgreSQL), and the Ray store actor of
        ``engine="ray"`` runs, if any."""
        if self._ray is not None:
            self._ray.close()
            self._ray = None
        if self._claims is not None:
            self._claims.close()
        self._store.close()

    def _description_claims(self) -> DescriptionClaimsProtocol | None:
        """The claim table (only when an LLM is configured: offline runs pay for nothing)."""
        if self.llm is not None and self._claims is None:
            self._claims = open_claims(self.store_path)
        return self._claims

    async def load_directory(
        self,
        directory: str | Path,
        max_concurrent: int = 5,
        on_progress: ProgressCallback | None = None,
        *,
        redescribe: bool = False,
        engine: str = "local",
        ray_address: str | None = None,
        ray_workers: int | None = None,
        default_ignores: bool = True,
    ) -> list[Document]:
        """Index ``directory`` incrementally; return every document now indexed under it.

        ``max_concurrent`` bounds the local extraction workers and, separately, the LLM calls in flight.
        ``on_progress(done, total, failed)`` is called once per file when it is settled (stored, unchanged,
        skipped or failed). The per-run report is in ``self.last_report``.

        Media described by an LLM before keep their description when the run is offline, and when the
        model or prompt version changed (listed in ``report.model_changed``): ``redescribe=True`` describes
        those again, paying for the calls.

        ``engine="ray"`` fans the changed files out over a Ray cluster (``pip install 'kagura[ray]'``):
        ``ray_address`` is the cluster to join (``"auto"``, ``"host:port"``; default: the one this process
        is connected to, else a new local one) and ``ray_workers`` the number of tasks at a time
        (default: one per CPU of the cluster). The driver diffs; the workers extract, describe (taking
        description claims as a local run does) and embed, and on PostgreSQL store their files
        themselves (on SQLite they send them back and the driver stores them). Report, progress,
        incremental and prune semantics are the local engine's.

        ``default_ignores`` skips :data:`kagura.loaders.DEFAULT_IGNORES` (``node_modules/``, virtual
        environments, ``__pycache__/``, ``*.pyc`` ...) as code-search tools do; ``False`` indexes them too.
        Either way ``.gitignore``/``.kaguraignore`` files apply, and a ``!pattern`` there re-includes.
        """
        from kagura.core.memory._pipeline import IngestRun, Progress
        from kagura.core.memory._prepare import RunCounters
        from kagura.core.memory._prune import plan_prune
        from kagura.core.memory._ray_engine import RayWorkers, check_engine, import_ray, run_on_ray
        from kagura.loaders import display_name, scan_directory

        engine = check_engine(engine)
        if ray_address is not None and (engine != "ray" or not isinstance(ray_address, str)):
            raise ValueError("ray_address must be a str, and is only used with engine='ray'")
        if ray_workers is not None and (
            isinstance(ray_workers, bool) or not isinstance(ray_workers, int) or ray_workers < 1
        ):
            raise ValueError(f"ray_workers must be an int >= 1 or None, got {ray_workers!r}")
        if engine == "ray":
            import_ray()
        if not isinstance(default_ignores, bool):
            raise TypeError(f"default_ignores must be a bool, got {type(default_ignores).__name__}")
        if not isinstance(redescribe, bool):
            raise TypeError(f"redescribe must be a bool, got {type(redescribe).__name__}")
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ValueError(f"max_concurrent must be an int >= 1, got {max_concurrent!r}")
        root = await asyncio.to_thread(lambda: Path(directory).expanduser().resolve())
        if not await asyncio.to_thread(root.is_dir):
            raise ValueError(f"{directory} is not a directory: pass the folder to index")
        embedder = await self._aembedder()
        await asyncio.to_thread(self._store.check_embedder, embedder_id(embedder))
        loop = asyncio.get_running_loop()
        started = loop.time()
        report = IngestReport(root=str(root))
        self.last_report = report
        counters = RunCounters(timings=report.timings)

        scan = await asyncio.to_thread(
            lambda: scan_directory(root, max_file_size=self.max_file_size, default_ignores=default_ignores)
        )
        report.timings["scan"] = loop.time() - started
        report.skipped.extend(SkippedPath(display_name(s.path), s.rule, s.detail) for s in scan.skipped)
        manifest = await asyncio.to_thread(self._store.manifest_under, str(root))
        claims = await asyncio.to_thread(self._description_claims)
        spec = self._worker_spec(root, embedder, redescribe, max_concurrent)
        preparer = spec.preparer(manifest, counters, claims)
        run = IngestRun(
            store=self._store,
            embedder=embedder,
            preparer=preparer,
            report=report,
            progress=Progress(on_progress, len(scan.files)),
            embed_batch_size=self.embed_batch_size,
            claims=claims,
        )
        try:
            if engine == "local":
                await run.run(scan.files, max_concurrent)
            else:
                if self._ray is None:
                    self._ray = RayWorkers(self.store_path)
                await run_on_ray(
                    run,
                    scan.files,
                    pool=self._ray,
                    spec=spec,
                    manifest=manifest,
                    address=ray_address,
                    workers=ray_workers,
                    store_empty=await asyncio.to_thread(lambda: self._store.counts()["vectors"] == 0),
                )
        finally:
            if claims is not None:  # whatever happened, no claim of this run outlives it
                await asyncio.shield(asyncio.to_thread(claims.release_all))
            report.llm_calls = counters.llm_calls
            report.llm_attempts = counters.llm_attempts
            report.llm_cache_hits = counters.llm_cache_hits
            report.timings["total"] = loop.time() - started

        unreadable = [s.path for s in report.skipped if s.rule == "unreadable"]
        seen = (display_name(root / f.relpath) for f in scan.files)
        stored = await asyncio.to_thread(self._store.paths_under, str(root))
        plan = plan_prune(stored, seen, run.stale, unreadable)
        await asyncio.to_thread(self._store.delete_documents, plan.paths)
        report.pruned.extend(plan.gone)
        report.completed = True
        report.timings["total"] = loop.time() - started
        return await asyncio.to_thread(self._store.documents_under, str(root))

    def _worker_spec(
        self, root: Path, embedder: Embedder, redescribe: bool, max_concurrent: int
    ) -> WorkerSpec:
        """This run's settings: the driver's preparer is made from them, and so is each Ray batch's."""
        from kagura.core.memory._ray_worker import WorkerSpec

        return WorkerSpec(
            root=root,
            llm=self.llm,
            embedder_name=embedder_id(embedder),
            chunk_size=self.chunk_size,
            overlap=self.overlap,
            retry=self.retry,
            redescribe=redescribe,
            embed_batch_size=self.embed_batch_size,
            max_concurrent=max_concurrent,
        )

    async def query(
        self,
        text: str,
        top_k: int = 5,
        file_type: str | None = None,
        *,
        mode: SearchMode = "hybrid",
        exact: bool = False,
        per_file: bool = False,
    ) -> list[SearchResult]:
        """The ``top_k`` chunks that best answer ``text``, best first.

        ``mode``: ``"hybrid"`` (default) fuses the keyword ranking (FTS5's BM25 over chunk text, file path
        and name, and section/symbol; PostgreSQL computes the same scores) with the vector ranking
        (cosine: exact on SQLite, HNSW on PostgreSQL) by reciprocal rank fusion, so exact words (a URL, a
        directive, an identifier) and paraphrases both find their chunk; ``"vector"`` is cosine only;
        ``"keyword"`` is BM25 only (the embedder is not even loaded). ``file_type`` ("markdown", "image",
        ...) restricts the search before ranking. ``exact=True`` compares the query with every vector even
        on a store with an approximate index (PostgreSQL HNSW), to measure its recall.

        ``per_file=True`` returns the best passage of each file instead (at most one result per file, and
        one copy of a page present as both Markdown and HTML: :func:`best_per_file`); the default returns
        every chunk, several of one file included.

        ``SearchResult.score``, higher is better in every mode:

        * ``hybrid``: relevance from 0 to 1, the chunk's reciprocal-rank fusion score over the best one
          possible: 1.0 = ranked first by both keyword and vector search, 0.5 = first by one of them and
          absent from the other, lower as the ranks fall (``1/(60+r)`` per list, normalized);
        * ``vector``: the cosine similarity of the query and the chunk (-1 to 1; about 0.3 to 0.7 for
          related text with the default MiniLM embedder);
        * ``keyword``: BM25 (0 up, unbounded, comparable only within one query and store), up to 1.5 times
          higher for a chunk holding the query's identifiers verbatim (``reverse_proxy``, ``maxAge``).

        Raises StoreError when the store's vectors were made by another embedder than this one.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("query text must be a non-empty string")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be an int >= 1, got {top_k!r}")
        if file_type is not None and str(file_type) not in (kinds := _file_types()):
            raise ValueError(f"unknown file_type {file_type!r}; use one of {sorted(kinds)}")
        mode = check_mode(mode)
        kind = None if file_type is None else str(file_type)
        if not isinstance(per_file, bool):
            raise TypeError(f"per_file must be a bool, got {type(per_file).__name__}")
        wanted = top_k * PER_FILE_FACTOR if per_file else top_k
        depth = wanted if mode != "hybrid" else max(wanted, FUSION_DEPTH)
        vector_hits: list[tuple[int, float]] = []
        keyword_hits: list[tuple[int, float]] = []
        if mode != "keyword":
            vector_hits = await self._vector_hits(text, depth, kind, exact)
        if mode != "vector":
            keyword_hits = await asyncio.to_thread(self._keyword_hits, text, depth, kind)
        if mode == "hybrid":
            fused = reciprocal_rank_fusion([[c for c, _ in vector_hits], [c for c, _ in keyword_hits]])
            best = 2.0 / (RRF_K + 1)  # first in both rankings
            hits = [(cid, min(1.0, score / best)) for cid, score in fused]
        else:
            hits = vector_hits or keyword_hits
        hits = hits[:wanted]
        rows = await asyncio.to_thread(self._store.chunks, [cid for cid, _ in hits])
        results = [
            SearchResult(
                r.path,
                r.text,
                float(score),
                r.page,
                r.section,
                r.file_type,
                r.relpath,
                r.id,
                r.document_id,
                r.start_line,
                r.end_line,
            )
            for cid, score in hits
            if (r := rows.get(cid)) is not None
        ]
        return best_per_file(results, top_k) if per_file else results[:top_k]

    def _keyword_hits(self, text: str, depth: int, file_type: str | None) -> list[tuple[int, float]]:
        """BM25 hits, those holding the query's identifiers verbatim raised (:func:`boost_identifiers`)."""
        if not query_identifiers(text):
            return self._store.keyword_search(text, depth, file_type)
        hits = self._store.keyword_search(text, max(depth, FUSION_DEPTH), file_type)  # re-ranked: look deeper
        boosted = boost_identifiers(
            text, hits, lambda ids: {cid: row.text for cid, row in self._store.chunks(ids).items()}
        )
        return boosted[:depth]

    async def _vector_hits(
        self, text: str, depth: int, file_type: str | None, exact: bool = False
    ) -> list[tuple[int, float]]:
        """``(chunk id, cosine)`` of the ``depth`` nearest chunks, best first."""
        embedder = await self._aembedder()
        name = embedder_id(embedder)
        await asyncio.to_thread(self._store.check_embedder, name)
        query_vec = np.asarray(await embedder.aembed([text]), dtype=np.float32)[0]
        return await asyncio.to_thread(
            lambda: self._store.vector_search(name, query_vec, depth, file_type, exact=exact)
        )

    async def ask(self, question: str, top_k: int = 5, *, mode: SearchMode = "hybrid") -> Answer:
        """Retrieve ``top_k`` passages (``mode`` as in :meth:`query`) and answer from them with the LLM
        (``Answer.text`` is None offline)."""
        from kagura.core.memory._answer import generate_answer

        passages = await self.query(question, top_k=top_k, mode=mode)
        return await generate_answer(question, passages, self.llm)

    def documents(self, directory: str | Path | None = None) -> list[Document]:
        """Indexed documents under ``directory`` (every document when ``None``); blocking."""
        root = "" if directory is None else str(Path(directory).expanduser().resolve())
        return self._store.documents_under(root)


def _llm_config() -> type[LLMConfig]:
    from kagura.core.llm import LLMConfig

    return LLMConfig


def _file_types() -> set[str]:
    from kagura.loaders import FileType

    return {str(t) for t in FileType}
