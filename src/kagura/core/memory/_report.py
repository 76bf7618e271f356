"""What one ``load_directory`` run did, file by file: the ingestion report, and the result types."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Document", "FailedFile", "IngestReport", "SearchResult", "SkippedPath"]


@dataclass(frozen=True, slots=True)
class FailedFile:
    """A file the run could not index (or could only partly index), and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SkippedPath:
    """A path the run left out on purpose, and the rule that did it ("gitignore", "too-large", ...)."""

    path: str
    rule: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Document:
    """One indexed file in the store."""

    id: int
    path: str
    relpath: str
    file_type: str
    mime_type: str
    content_hash: str
    size: int
    chunks: int
    described: bool
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One retrieved chunk: its text, score (see ``MultimodalRAG.query``) and source (path, page, section,
    file type, and ``start_line``/``end_line``: the 1-based lines of the file it spans, for text files)."""

    path: str
    text: str
    score: float
    page: int | None
    section: str | None
    file_type: str
    relpath: str
    chunk_id: int
    document_id: int
    start_line: int | None = None
    end_line: int | None = None

    def source(self) -> str:
        """``relpath:START-END`` (or ``relpath``) plus ``p. N`` / ``§ section`` when known, for citing."""
        where = self.relpath or self.path
        if self.start_line is not None:
            end = self.end_line if self.end_line is not None else self.start_line
            where += f":{self.start_line}" if end == self.start_line else f":{self.start_line}-{end}"
        parts = [where]
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.section:
            parts.append(f"§ {self.section}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestReport:
    """Everything one ``MultimodalRAG.load_directory`` run did.

    ``indexed``: files (re)processed and stored this run. ``unchanged``: files whose content hash and
    extractor/prompt/model versions matched the manifest, skipped without extraction or LLM calls.
    ``failed``: path + reason for every file that could not be (fully) indexed; a media file whose LLM
    description failed after its retries is listed here and indexed by its metadata only; any other
    failed file keeps the document indexed for it before, if any. ``skipped``: path + rule for what the
    scan or the pipeline left out on purpose (``empty``, ``binary``, ``gitignore``, ``unreadable``, ...);
    an ``unreadable`` file or folder keeps its indexed documents. ``pruned``: files removed from the
    index because they are gone from the tree. ``not_described``: media indexed by metadata and filename
    only because no LLM is configured. ``model_changed``: media whose stored LLM description came from
    another model or prompt version and was kept (``redescribe=True`` re-describes them, paying again).
    ``interrupted``: the run was cancelled (Ctrl-C) and this report is partial. ``llm_calls``: files sent
    for description (every request, retries included, in ``llm_attempts``). ``cache_hits``: files
    answered by the manifest without any work;
    ``llm_cache_hits``: descriptions served by the LLM response cache (``LLMConfig(enable_cache=True)``).
    ``described_ahead``: media stored with a description made ahead of the run (a Batch API), no LLM call.
    ``chunks_embedded``: chunks sent to the embedder this run; ``chunks_reused``: chunks of (re)indexed
    files whose vector was already stored under the same chunk hash (unchanged parts of edited files).
    ``timings``: seconds per stage (stages overlap, so they do not sum to ``total``).
    """

    root: str
    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    skipped: list[SkippedPath] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    not_described: list[str] = field(default_factory=list)
    model_changed: list[str] = field(default_factory=list)
    interrupted: bool = False
    llm_calls: int = 0
    llm_attempts: int = 0
    cache_hits: int = 0
    llm_cache_hits: int = 0
    described_ahead: int = 0
    chunks_added: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    completed: bool = False

    @property
    def total_files(self) -> int:
        """Files the scan found (indexed + unchanged + failed-and-not-indexed)."""
        return len(set(self.indexed) | set(self.unchanged) | {f.path for f in self.failed})

    def failure_for(self, path: str) -> str | None:
        """The reason ``path`` failed this run, or ``None``."""
        for failure in self.failed:
            if failure.path == path:
                return failure.reason
        return None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view."""
        data = asdict(self)
        data["total_files"] = self.total_files
        return data

    def summary(self) -> str:
        """One line: counts per outcome and the total time."""
        total = self.timings.get("total", 0.0)
        return (
            f"{len(self.indexed)} indexed, {len(self.unchanged)} unchanged, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped, {len(self.pruned)} pruned, {self.llm_calls} LLM calls, "
            f"{self.chunks_added} chunks in {total:.2f}s"
        )
