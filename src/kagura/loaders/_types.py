"""The plain data the loaders hand out: file types, scan results and extraction results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class FileType(StrEnum):
    """What kind of file something is, decided by :func:`kagura.loaders.detect_file_type`."""

    TEXT = "text"
    CODE = "code"
    MARKDOWN = "markdown"
    JSON = "json"
    YAML = "yaml"
    CSV = "csv"
    PDF = "pdf"
    DOCX = "docx"
    HTML = "html"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ScannedFile:
    """A file the scan kept.

    ``path`` is ``root / relpath`` (the path as seen under the root, not symlink-resolved);
    ``relpath`` is POSIX-style and relative to the root; ``size`` is in bytes at scan time.
    """

    path: Path
    relpath: str
    size: int


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file or directory the scan did not keep, and the rule that dropped it.

    ``path`` is ``str(root / relpath)``. ``rule`` is one of :data:`kagura.loaders.SKIP_RULES`
    (``"gitignore"``, ``"kaguraignore"``, ``"hidden"``, ``"too-large"``, ``"symlink-outside-root"``, ...);
    ``detail`` is a human-readable explanation (may be empty).
    """

    path: str
    rule: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What :func:`kagura.loaders.scan_directory` found: kept files and skips, both sorted by path."""

    files: list[ScannedFile]
    skipped: list[SkippedFile]


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of extracted text, with where it came from (PDF page, heading trail, and for text files the
    1-based ``line`` of the file where ``text`` starts; None when lines mean nothing, as in HTML or PDF)."""

    text: str
    page: int | None = None
    section: str | None = None
    line: int | None = None


@dataclass(slots=True)
class Extracted:
    """The result of :func:`kagura.loaders.extract_file`.

    ``segments`` is never empty (a file with nothing to index raises ``ExtractionError`` instead).
    ``media_kind`` is ``"image"``, ``"audio"`` or ``"video"`` for media files, else ``None``.
    """

    file_type: FileType
    mime_type: str
    segments: list[Segment]
    metadata: dict[str, Any] = field(default_factory=dict)
    media_kind: str | None = None
