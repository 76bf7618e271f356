"""Per-file work of an ingestion run, up to (not including) embedding: hash, compare with the manifest,
extract, describe media, chunk.

Everything blocking runs in worker threads. The manifest check happens before any extraction or LLM call,
so an unchanged file costs one hash. Every way a file can fail ends as a ``FailedFile`` with a reason; nothing
raises out of ``FilePreparer.__call__`` except cancellation.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from kagura.core.llm import LLMClient
from kagura.core.memory._report import FailedFile, SkippedPath
from kagura.core.memory.ingestion._describe import PROMPT_VERSION, describe_media
from kagura.core.memory.ingestion._hashing import chunk_hash, embed_text
from kagura.core.memory.ingestion._results import (
    NeedsDescription,
    Prepared,
    RunCounters,
    Unchanged,
)
from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece, chunk_segments
from kagura.core.memory.ingestion.chunking._structure import CHUNKER_VERSION, chunk_document
from kagura.core.memory.stores._protocol import DescriptionClaimsProtocol
from kagura.core.memory.stores.sqlite._store import ManifestEntry, NewDocument
from kagura.core.parallel import RetryPolicy
from kagura.errors import ExtractionError, KaguraError, NothingToIndexError, UnsupportedAttachmentError
from kagura.loaders import (
    Extracted,
    FileType,
    ScannedFile,
    Segment,
    content_hash,
    detect_file_type,
    display_name,
    extract_file,
    extractor_version,
    is_valid_name,
    raw_name_hex,
)

__all__ = ["FilePreparer", "NeedsDescription", "Prepared", "RunCounters", "Unchanged"]

MEDIA_TYPES = frozenset({FileType.IMAGE, FileType.AUDIO, FileType.VIDEO})


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file deleted during the run"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read file: {exc.strerror or exc}"


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hash_and_detect(path: Path) -> tuple[str, FileType]:
    return content_hash(path), detect_file_type(path)


def _same_content(stored: ManifestEntry, expected: ManifestEntry) -> bool:
    """Same bytes, extractor, embedder and chunking: only the LLM part (model, prompt) may differ."""
    return (
        stored.content_hash,
        stored.file_type,
        stored.extractor_version,
        stored.embedder,
        stored.chunking,
    ) == (
        expected.content_hash,
        expected.file_type,
        expected.extractor_version,
        expected.embedder,
        expected.chunking,
    )


def _extract_and_chunk(
    path: Path, file_type: FileType, chunk_size: int, overlap: int
) -> tuple[Extracted, list[ChunkPiece] | None]:
    """Extract the file; chunk it too unless it is media (its description is added before chunking)."""
    extracted = extract_file(path, file_type)
    if extracted.media_kind is not None:
        return extracted, None
    kind = str(file_type)
    chunks = chunk_document(
        extracted.segments, relpath=path.name, file_type=kind, chunk_size=chunk_size, overlap=overlap
    )
    return extracted, chunks


class _Changed(NamedTuple):
    """The diff's verdict for a file to (re)process, with what it learnt on the way."""

    digest: str
    file_type: FileType
    wants_description: bool


class FilePreparer:
    """The per-file work of one run over one root, in two stages the scheduler maps over files."""

    def __init__(
        self,
        *,
        root: Path,
        manifest: dict[str, ManifestEntry],
        llm: LLMClient | None,
        embedder_name: str,
        chunk_size: int,
        overlap: int,
        retry: RetryPolicy | None,
        counters: RunCounters,
        redescribe: bool = False,
        claims: DescriptionClaimsProtocol | None = None,
        claim_poll: float = 0.25,
        descriptions: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self.root = root
        self.manifest = manifest
        self.llm = llm
        self.embedder_name = embedder_name
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.retry = retry
        self.counters = counters
        self.redescribe = redescribe
        self.claims = claims
        self.claim_poll = claim_poll
        self.descriptions: Mapping[tuple[str, str], str] = descriptions or {}
        """Descriptions made before the run (a Batch API), by (relpath, content hash): no LLM call."""
        self.chunking = f"{CHUNKER_VERSION}/{chunk_size}/{overlap}"

    def expected(self, digest: str, file_type: FileType, *, described: bool) -> ManifestEntry:
        """The manifest entry a fresh processing of this content would write."""
        media = file_type in MEDIA_TYPES and described
        return ManifestEntry(
            content_hash=digest,
            file_type=str(file_type),
            extractor_version=extractor_version(file_type),
            prompt_version=PROMPT_VERSION if media else "",
            model=self.llm.config.model_name if media and self.llm is not None else "",
            embedder=self.embedder_name,
            chunking=self.chunking,
        )

    async def local(
        self, scanned: ScannedFile
    ) -> Unchanged | FailedFile | SkippedPath | Prepared | NeedsDescription:
        """Stage 1, no LLM: hash, manifest check, extract, chunk. Media to describe come back as
        ``NeedsDescription`` for stage 2, so the LLM slots never wait on local work."""
        path = self.root / scanned.relpath
        key = display_name(path)
        try:
            return await self._local(path, key, scanned)
        except NothingToIndexError as exc:
            return SkippedPath(key, "empty", exc.reason)
        except ExtractionError as exc:
            return FailedFile(key, exc.reason)
        except OSError as exc:
            return FailedFile(key, _os_reason(exc))
        except Exception as exc:  # the per-file boundary: whatever went wrong is reported, never dropped
            return FailedFile(key, f"{type(exc).__name__}: {exc}")

    async def check(self, scanned: ScannedFile) -> Unchanged | FailedFile | SkippedPath | None:
        """The manifest diff alone (hash and detect, no extraction): the file's settled result, or
        ``None`` when it must be processed. A distributed run diffs on the driver with this and ships
        only the changed files; ``local`` runs the same diff first."""
        path = self.root / scanned.relpath
        key = display_name(path)
        try:
            verdict = await self._diff(path, key)
        except OSError as exc:
            return FailedFile(key, _os_reason(exc))
        except Exception as exc:  # the per-file boundary, as in ``local``
            return FailedFile(key, f"{type(exc).__name__}: {exc}")
        return None if isinstance(verdict, _Changed) else verdict

    async def _diff(self, path: Path, key: str) -> Unchanged | FailedFile | SkippedPath | _Changed:
        resolved = await asyncio.to_thread(path.resolve)
        if not resolved.is_relative_to(self.root):
            return FailedFile(key, "resolves outside the root; not read")
        digest, file_type = await asyncio.to_thread(_hash_and_detect, path)
        if digest == EMPTY_SHA256:
            return SkippedPath(key, "empty", "0 bytes: nothing to index")
        if file_type is FileType.UNKNOWN:
            return SkippedPath(key, "binary", "binary content of no supported type; not indexed")
        wants_description = file_type in MEDIA_TYPES and self.llm is not None
        expected = self.expected(digest, file_type, described=wants_description)
        stored = self.manifest.get(key)
        if stored == expected:
            return Unchanged(key)
        if (
            file_type in MEDIA_TYPES
            and stored is not None
            and stored.prompt_version
            and _same_content(stored, expected)
        ):
            # Described by an LLM before, same bytes: an offline run keeps that description, and another
            # model or prompt re-describes (and re-pays) only when asked to.
            if self.llm is None:
                return Unchanged(key)
            if not self.redescribe:
                return Unchanged(key, model_changed=True)
        return _Changed(digest, file_type, wants_description)

    async def _local(
        self, path: Path, key: str, scanned: ScannedFile
    ) -> Unchanged | FailedFile | SkippedPath | Prepared | NeedsDescription:
        loop = asyncio.get_running_loop()
        started = loop.time()
        verdict = await self._diff(path, key)
        if not isinstance(verdict, _Changed):
            return verdict
        digest, file_type, wants_description = verdict
        extracted, chunks = await asyncio.to_thread(
            _extract_and_chunk, path, file_type, self.chunk_size, self.overlap
        )
        self.counters.add_time("extract", loop.time() - started)
        job = NeedsDescription(path, key, scanned, extracted, digest, file_type)
        if extracted.media_kind is None:
            return self._document(job, chunks or [], described=False)
        if wants_description:
            return job
        return self._media_document(job, None, failure=None, not_described=True)

    async def needs_description(self, scanned: ScannedFile) -> NeedsDescription | None:
        """The file as stage 2 would get it when this run would describe it, else ``None`` (unchanged,
        not media, no LLM, or a problem the run itself will report)."""
        path = self.root / scanned.relpath
        try:
            verdict = await self._diff(path, display_name(path))
            if not isinstance(verdict, _Changed) or not verdict.wants_description:
                return None
            extracted = await asyncio.to_thread(extract_file, path, verdict.file_type)
        except Exception:  # reported by the ingestion run, which reads the file again
            return None
        if extracted.media_kind is None:
            return None
        key, digest = display_name(path), verdict.digest
        return NeedsDescription(path, key, scanned, extracted, digest, verdict.file_type)

    async def describe(self, job: NeedsDescription) -> Prepared | FailedFile | SkippedPath | Unchanged:
        """Stage 2: one LLM description (with retries) for a media file, then its chunks.

        With ``claims``, the file is claimed first; if another run holds it, this waits for that run and
        takes its description from the store (``Unchanged``) instead of paying for it again.
        """
        if self.claims is None:
            return await self._describe_job(job)
        already = await self._claim(job, self.claims)
        if already is not None:
            return already
        result = await self._describe_job(job)
        if isinstance(result, Prepared):
            result.claimed = True  # released by the writer once stored
        else:
            await asyncio.to_thread(self.claims.release, job.key)
        return result

    async def _claim(self, job: NeedsDescription, claims: DescriptionClaimsProtocol) -> Unchanged | None:
        """Hold the claim on ``job``'s file (``None``), or ``Unchanged`` once another run described it."""
        expected = self.expected(job.digest, job.file_type, described=True)
        wanted = (expected.content_hash, expected.prompt_version, expected.model)
        while True:
            holder = await asyncio.to_thread(claims.try_claim, job.key)
            if holder is None:
                if await asyncio.to_thread(claims.described, job.key) == wanted:  # done while we waited
                    await asyncio.to_thread(claims.release, job.key)
                    return Unchanged(job.key)
                return None
            await asyncio.sleep(self.claim_poll)

    async def _describe_job(self, job: NeedsDescription) -> Prepared | FailedFile | SkippedPath:
        known = self.descriptions.get((display_name(job.scanned.relpath), job.digest))
        if known:  # described before the run (through a Batch API): stored as an online description is
            self.counters.described_ahead += 1
            return self._media_document(job, known, failure=None, not_described=False)
        try:
            text, failure, final = await self._describe(
                job.path, job.extracted, display_name(job.scanned.relpath)
            )
        except ExtractionError as exc:  # the file cannot be read any more (gone, replaced by a FIFO...)
            return FailedFile(job.key, exc.reason)
        except OSError as exc:
            return FailedFile(job.key, _os_reason(exc))
        except Exception as exc:  # the per-file boundary, as in ``local``
            return FailedFile(job.key, f"{type(exc).__name__}: {exc}")
        return self._media_document(job, text, failure=failure, not_described=False, final=final)

    def _media_document(
        self,
        job: NeedsDescription,
        description: str | None,
        *,
        failure: str | None,
        not_described: bool,
        final: bool = False,
    ) -> Prepared | SkippedPath:
        """``final``: the model can never describe this file, so the manifest records it as settled."""
        parts = [f"File name: {display_name(job.scanned.relpath)}", *(s.text for s in job.extracted.segments)]
        if description:
            parts.insert(0, description)
        section = "description" if description else "metadata"
        chunks = chunk_segments([Segment("\n\n".join(parts), section=section)], self.chunk_size, self.overlap)
        prepared = self._document(job, chunks, described=bool(description), settled=final)
        if isinstance(prepared, Prepared):
            prepared.failure = failure
            prepared.not_described = not_described
        return prepared

    def _document(
        self, job: NeedsDescription, chunks: list[ChunkPiece], *, described: bool, settled: bool = False
    ) -> Prepared | SkippedPath:
        if not chunks:
            return SkippedPath(job.key, "empty")
        relpath = display_name(job.scanned.relpath)
        metadata = _jsonable(job.extracted.metadata)
        if not is_valid_name(job.path):  # the display form escapes bytes; keep the real name too
            metadata["path_bytes_hex"] = raw_name_hex(job.path)
        doc = NewDocument(
            path=job.key,
            root=display_name(self.root),
            relpath=relpath,
            mime_type=job.extracted.mime_type,
            size=job.scanned.size,
            described=described,
            metadata=metadata,
            manifest=self.expected(job.digest, job.file_type, described=described or settled),
            chunks=chunks,
        )
        texts = [embed_text(relpath, c) for c in chunks]
        doc = replace(doc, chunk_hashes=[chunk_hash(self.embedder_name, t) for t in texts])
        return Prepared(doc, texts)

    async def _describe(
        self, path: Path, extracted: Extracted, relpath: str
    ) -> tuple[str | None, str | None, bool]:
        """(description, failure reason, final): ``final`` when the model cannot take this file at all."""
        assert self.llm is not None and extracted.media_kind is not None
        metadata_text = " ".join(s.text for s in extracted.segments)[:1000]
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.counters.count("llm_calls")
        attempts = 0

        def count() -> None:
            nonlocal attempts
            attempts += 1
            self.counters.count("llm_attempts")

        try:
            description = await describe_media(
                path,
                extracted.media_kind,
                relpath,
                metadata_text,
                self.llm,
                self.retry,
                on_attempt=count,
                mime_type=extracted.mime_type,
            )
        except ExtractionError:
            raise
        except (UnsupportedAttachmentError, ValueError) as exc:
            return None, f"the model cannot take this file ({exc}); indexed by metadata only", True
        except KaguraError as exc:
            detail = str(exc) or type(exc).__name__
            reason = f"LLM description failed after {attempts} attempt(s): {type(exc).__name__}: {detail}"
            return None, reason + "; indexed by metadata only", False
        finally:
            self.counters.add_time("describe", loop.time() - started)
        self.counters.count("llm_cache_hits", int(description.cached))
        return description.text or None, None, False


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        str(k): (v if isinstance(v, str | int | float | bool | None) else str(v)) for k, v in metadata.items()
    }
