"""The media an ingestion run would describe, as requests that can be sent ahead of it (a Batch API).

:meth:`MultimodalRAG.media_to_describe <kagura.core.memory.MultimodalRAG.media_to_describe>` lists them;
their answers go back to :meth:`~kagura.core.memory.MultimodalRAG.load_directory` as ``descriptions``
(by :attr:`MediaToDescribe.key`), which stores them as it stores descriptions it asked for itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kagura.core.llm import Attachment
from kagura.core.memory.ingestion._describe import PROMPT_VERSION, _load_attachment, description_prompt
from kagura.core.memory.ingestion._prepare import FilePreparer
from kagura.core.parallel import parallel_map
from kagura.loaders import ScannedFile, display_name

__all__ = ["MediaToDescribe", "plan_descriptions"]


@dataclass(frozen=True, slots=True)
class MediaToDescribe:
    """One media file to describe: its ``key`` (relpath, content hash), the file, its kind and MIME type,
    and the ``prompt`` the online path would send with it (``prompt_version``: :data:`PROMPT_VERSION`)."""

    key: tuple[str, str]
    path: Path
    media_kind: str
    mime_type: str | None
    prompt: str
    prompt_version: str = PROMPT_VERSION

    def attachment(self) -> Attachment:
        """The file as the online path attaches it (blocking: read from a thread)."""
        return _load_attachment(self.path, self.mime_type)


async def plan_descriptions(
    preparer: FilePreparer, files: Sequence[ScannedFile], max_concurrent: int
) -> list[MediaToDescribe]:
    """The media among ``files`` that ``preparer``'s run would describe, in scan order."""
    found = await parallel_map(preparer.needs_description, files, max_concurrent=max_concurrent)
    media: list[MediaToDescribe] = []
    for job in found:
        if job is None or job.extracted.media_kind is None:
            continue
        relpath = display_name(job.scanned.relpath)
        metadata_text = " ".join(s.text for s in job.extracted.segments)[:1000]
        prompt = description_prompt(job.extracted.media_kind, relpath, metadata_text)
        kind, mime = job.extracted.media_kind, job.extracted.mime_type
        media.append(MediaToDescribe((relpath, job.digest), job.path, kind, mime, prompt))
    return media
