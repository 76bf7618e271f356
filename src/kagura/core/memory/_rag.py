"""``MultimodalRAG``: incremental multimodal ingestion of a directory into a store, and hybrid search.

A façade: the store is an SQLite file (a path, the default) or PostgreSQL + pgvector (a ``postgresql://``
URL, extra ``kagura[postgres]``), see :mod:`kagura.core.memory.stores`; ``load_directory`` runs
:mod:`kagura.core.memory.ingestion` on an engine (:mod:`kagura.core.memory.engines`: this process, or a
Ray cluster); ``query`` and ``ask`` run :mod:`kagura.core.memory.search`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kagura._checks import check_bool, check_int, check_max_concurrent
from kagura.core.memory._report import Document, IngestReport, SearchResult
from kagura.core.memory.embedders import Embedder, get_default_embedder
from kagura.core.memory.embedders._base import embedder_id
from kagura.core.memory.ingestion.chunking._pieces import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, check_chunking
from kagura.core.memory.search._hybrid import SearchMode
from kagura.core.memory.search._query import Query, search
from kagura.core.memory.stores import RAGStoreProtocol, check_target, open_rag_store
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol

# Only ingestion (and ``ask``) needs the LLM layer, the scheduler, the loaders, the pipeline and the engines:
# they are imported where used, so a process that only searches (every ``kagura search``) never loads them.
if TYPE_CHECKING:
    from kagura.core.llm import LLMClient, LLMConfig
    from kagura.core.memory.engines import Engine
    from kagura.core.memory.ingestion._describe_plan import MediaToDescribe
    from kagura.core.memory.ingestion._pipeline import ProgressCallback
    from kagura.core.memory.ingestion._settings import RunSettings
    from kagura.core.memory.search._answer import Answer
    from kagura.core.memory.stores import HNSWParams
    from kagura.core.parallel import RetryPolicy

__all__ = ["MultimodalRAG"]

EMBED_BATCH = 64


class MultimodalRAG:
    """Index a directory of mixed files into one store (an SQLite path or a ``postgresql://`` URL) and search
    it. ``hnsw`` tunes the PostgreSQL vector index (``HNSWParams``).

    ``llm=None`` runs fully offline (media indexed by metadata and file name); with an ``LLMClient`` (or an
    ``LLMConfig``, made into a client here once, owned and closed by :meth:`aclose`), images/audio/video
    are described by the model, one call per file, and :meth:`ask` answers, all through that client (its
    budget, adaptive control, cache and spend cap). Ray workers make their own client from its config.
    ``embedder`` defaults to the local MiniLM embedder. ``chunk_size``/``overlap`` are in characters;
    ``max_file_size`` in bytes. ``embed_batch_size``: chunks gathered (across files) per embedding call;
    ``retry``: for LLM calls.
    """

    def __init__(
        self,
        store_path: str | Path,
        llm: LLMClient | LLMConfig | None = None,
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
        client: LLMClient | None = None
        if llm is not None:
            from kagura.core.llm import LLMClient, LLMConfig

            if not isinstance(llm, LLMClient | LLMConfig):
                raise TypeError(
                    f"llm must be an LLMClient, an LLMConfig or None (offline), got {type(llm).__name__}"
                )
            client = LLMClient(llm) if isinstance(llm, LLMConfig) else llm
        check_chunking(chunk_size, overlap)
        check_int("max_file_size", max_file_size, hint=" (a positive number of bytes)")
        check_int("embed_batch_size", embed_batch_size)
        self.embed_batch_size = embed_batch_size
        self.store_path: str | Path = target
        """The SQLite file (a Path) or the ``postgresql://`` URL (a str) of the store."""
        self._owns_client = client is not None and client is not llm
        self.llm_client: LLMClient | None = client
        """The client every LLM call goes through (None offline)."""
        self.llm: LLMConfig | None = client.config if client is not None else None
        """Its config (what Ray workers build their clients from)."""
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
        self._engines: dict[str, Engine] = {}
        """The engines ``engine="ray"``-style shorthands made, by configuration (kept for the next runs,
        closed by :meth:`close`); an engine object passed in stays the caller's to close."""

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
        """Close the store's connections (SQLite) or connection pools (PostgreSQL), and the engine an
        ``engine="ray"`` shorthand made, if any (its actors; and the local Ray cluster it started)."""
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            engine.close()
        if self._claims is not None:
            self._claims.close()
        self._store.close()

    async def aclose(self) -> None:
        """:meth:`close`, and close the LLM client when it was made here from an ``LLMConfig``."""
        self.close()
        if self._owns_client and self.llm_client is not None:
            await self.llm_client.aclose()

    def _description_claims(self) -> DescriptionClaimsProtocol | None:
        """The claim table (only when an LLM is configured: offline runs pay for nothing)."""
        if self.llm is not None and self._claims is None:
            self._claims = self._store.open_claims()
        return self._claims

    async def load_directory(
        self,
        directory: str | Path,
        max_concurrent: int = 5,
        on_progress: ProgressCallback | None = None,
        *,
        redescribe: bool = False,
        engine: Engine | str = "local",
        ray_address: str | None = None,
        ray_workers: int | None = None,
        default_ignores: bool = True,
        descriptions: Mapping[tuple[str, str], str] | None = None,
    ) -> list[Document]:
        """Index ``directory`` incrementally; return every document now indexed under it.

        ``descriptions``: media descriptions made ahead of the run (through a Batch API, from
        :meth:`media_to_describe`), by (relpath, content hash): stored as the run's own, with no LLM call
        for them (local engine only).

        ``max_concurrent`` bounds the local extraction workers and, separately, the LLM calls in flight.
        ``on_progress(done, total, failed)`` is called once per file when it is settled (stored, unchanged,
        skipped or failed). The per-run report is in ``self.last_report``.

        Media described by an LLM before keep their description when the run is offline, and when the
        model or prompt version changed (listed in ``report.model_changed``): ``redescribe=True`` describes
        those again, paying for the calls.

        ``engine``: where the per-file work runs, an :class:`~kagura.core.memory.Engine`:
        :class:`~kagura.core.memory.LocalEngine` (this process) or
        :class:`~kagura.core.memory.RayEngine` (``RayEngine(address=...)``: a Ray cluster,
        ``pip install 'kagura[ray]'``); an engine passed in is the caller's to close. ``"local"`` and
        ``"ray"`` are shorthands: ``engine="ray", ray_address=..., ray_workers=...`` is
        ``RayEngine(ray_address, workers=ray_workers)``, kept for the next runs and closed by
        :meth:`close`. Report, progress, incremental and prune semantics are the same on every engine.

        ``default_ignores`` skips :data:`kagura.loaders.DEFAULT_IGNORES` (``node_modules/``, virtual
        environments, ``__pycache__/``, ``*.pyc`` ...) as code-search tools do; ``False`` indexes them too.
        Either way ``.gitignore``/``.kaguraignore`` files apply, and a ``!pattern`` there re-includes.
        """
        from kagura.core.memory.engines import engine_for
        from kagura.core.memory.ingestion._directory import DirectoryRun, index_directory

        chosen, made_here = engine_for(engine, ray_address=ray_address, ray_workers=ray_workers)
        if made_here:  # a shorthand: keep its engine (a Ray connection, actors) for the next runs
            chosen = self._keep(chosen)
        if descriptions and not getattr(chosen, "in_process", False):
            raise ValueError("descriptions made ahead of the run are for the local engine only")
        check_bool("default_ignores", default_ignores)
        check_bool("redescribe", redescribe)
        check_max_concurrent(max_concurrent)
        root = await asyncio.to_thread(lambda: Path(directory).expanduser().resolve())
        if not await asyncio.to_thread(root.is_dir):
            raise ValueError(f"{directory} is not a directory: pass the folder to index")
        embedder = await self._aembedder()
        await asyncio.to_thread(self._store.check_embedder, embedder_id(embedder))
        report = IngestReport(root=str(root))
        self.last_report = report
        where = DirectoryRun(
            store=self._store,
            access=self._store.worker_access(),
            embedder=embedder,
            claims=await asyncio.to_thread(self._description_claims),
            max_file_size=self.max_file_size,
            embed_batch_size=self.embed_batch_size,
            default_ignores=default_ignores,
            client=self.llm_client,
            descriptions=dict(descriptions or {}),
        )
        settings = self._settings(root, embedder, redescribe, max_concurrent)
        return await index_directory(where, settings, chosen, report, on_progress)

    async def media_to_describe(
        self, directory: str | Path, *, redescribe: bool = False, default_ignores: bool = True,
        max_concurrent: int = 5,
    ) -> list[MediaToDescribe]:  # fmt: skip
        """The media files :meth:`load_directory` would describe now (new or changed; none without an
        LLM), with the prompt it would send: describe them ahead (a Batch API) and pass the answers as
        its ``descriptions``. Reads and hashes the files; calls no LLM and writes nothing."""
        from kagura.core.memory.ingestion._describe_plan import plan_descriptions
        from kagura.core.memory.ingestion._prepare import RunCounters
        from kagura.loaders import scan_directory

        if self.llm is None:
            return []
        root = await asyncio.to_thread(lambda: Path(directory).expanduser().resolve())
        if not await asyncio.to_thread(root.is_dir):
            raise ValueError(f"{directory} is not a directory: pass the folder to index")
        embedder = await self._aembedder()
        scan = await asyncio.to_thread(
            lambda: scan_directory(root, max_file_size=self.max_file_size, default_ignores=default_ignores)
        )
        manifest = await asyncio.to_thread(self._store.manifest_under, str(root))
        settings = self._settings(root, embedder, redescribe, max_concurrent)
        preparer = settings.preparer(manifest, RunCounters(), None, self.llm_client)
        return await plan_descriptions(preparer, scan.files, max_concurrent)

    def _settings(self, root: Path, embedder: Embedder, redescribe: bool, max_concurrent: int) -> RunSettings:
        """This run's settings: the driver's preparer is made from them, and so is each Ray batch's."""
        from kagura.core.memory.ingestion._settings import RunSettings

        return RunSettings(
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

    def _keep(self, engine: Engine) -> Engine:
        """The engine a shorthand made, or the one an equal shorthand made before (same kind and options,
        as ``repr`` shows them), which keeps its connection between runs."""
        kept = self._engines.setdefault(repr(engine), engine)
        if kept is not engine:
            engine.close()
        return kept

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
        query = Query(text, top_k, file_type, mode, exact, per_file)  # checked before the store is used
        return await search(self._store, self._aembedder, query)

    async def ask(self, question: str, top_k: int = 5, *, mode: SearchMode = "hybrid") -> Answer:
        """Retrieve ``top_k`` passages (``mode`` as in :meth:`query`) and answer from them with the LLM
        (``Answer.text`` is None offline)."""
        from kagura.core.memory.search._answer import generate_answer

        passages = await self.query(question, top_k=top_k, mode=mode)
        return await generate_answer(question, passages, self.llm_client)

    def documents(self, directory: str | Path | None = None) -> list[Document]:
        """Indexed documents under ``directory`` (every document when ``None``); blocking."""
        root = "" if directory is None else str(Path(directory).expanduser().resolve())
        return self._store.documents_under(root)
