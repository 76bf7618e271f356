"""Extractors for documents: PDF (``pypdf``, one segment per page) and DOCX (``python-docx``, sections)."""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from kagura.errors import ExtractionError
from kagura.loaders._detect import guess_mime_type
from kagura.loaders._limits import check_archive
from kagura.loaders._optional import missing_library
from kagura.loaders._safe import open_regular
from kagura.loaders._types import Extracted, FileType, Segment

__all__: list[str] = []


def _pdf_reader(path: Path, stream: BinaryIO) -> Any:
    pypdf_log = logging.getLogger("pypdf")
    if not pypdf_log.handlers:  # the reason goes into ExtractionError; keep "EOF marker not found" off stderr
        pypdf_log.addHandler(logging.NullHandler())
    try:
        from pypdf import PdfReader
        from pypdf.errors import DependencyError, PdfReadError
    except ImportError:  # pragma: no cover - a core dependency
        raise missing_library("pypdf") from None
    try:
        reader = PdfReader(stream, strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ExtractionError(str(path), f"not a valid PDF (corrupt or truncated): {exc}") from None
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt("")
        except DependencyError:
            raise ExtractionError(
                str(path), "encrypted PDF: decrypting needs the 'cryptography' package and maybe a password"
            ) from None
        except Exception as exc:
            raise ExtractionError(str(path), f"encrypted PDF that cannot be opened: {exc}") from None
        if not decrypted:
            raise ExtractionError(str(path), "encrypted PDF: a password is needed to read it")
    return reader


def _pdf_info(reader: Any) -> dict[str, object]:
    try:
        info = reader.metadata
    except Exception:
        return {}
    if not info:
        return {}
    found = {"title": info.get("/Title"), "author": info.get("/Author"), "subject": info.get("/Subject")}
    return {key: str(value) for key, value in found.items() if value}


def extract_pdf(path: Path, file_type: FileType) -> Extracted:
    """PDF: one segment per page with text, ``Segment.page`` 1-based; ``metadata["pages"]`` = page count.

    Raises ExtractionError for a corrupt, truncated or password-protected PDF, and for one with no text
    (a scan of images).
    """
    with open_regular(path) as stream:
        reader = _pdf_reader(path, stream)
        return _pdf_pages(path, file_type, reader)


def _pdf_pages(path: Path, file_type: FileType, reader: Any) -> Extracted:
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise ExtractionError(str(path), f"not a valid PDF (cannot read its pages): {exc}") from None
    segments: list[Segment] = []
    failed_pages: list[int] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception:
            failed_pages.append(number)
            continue
        if text.strip():
            segments.append(Segment(text.strip(), page=number))
    if not segments:
        if failed_pages:
            raise ExtractionError(str(path), f"not a valid PDF: no page could be read ({len(pages)} pages)")
        raise ExtractionError(str(path), f"no extractable text in {len(pages)} page(s): a scanned PDF?")
    meta: dict[str, object] = {"pages": len(pages), **_pdf_info(reader)}
    if failed_pages:
        meta["unreadable_pages"] = failed_pages
    return Extracted(file_type, guess_mime_type(path, file_type), segments, meta)


_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _heading_level(paragraph: Any) -> int | None:
    try:
        name = paragraph.style.name if paragraph.style is not None else ""
    except Exception:
        return None
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name or "")
    return int(match.group(1)) if match else None


def _table_text(table: Any) -> str:
    rows = []
    for row in table.rows:
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        rows.append(" | ".join(cells))
    return "\n".join(rows)


def _open_docx(path: Path, stream: BinaryIO) -> Any:
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
    except ImportError:  # pragma: no cover - a core dependency
        raise missing_library("python-docx") from None
    if not zipfile.is_zipfile(stream):
        raise ExtractionError(str(path), "not a valid DOCX: the file is not a zip archive")
    stream.seek(0)
    check_archive(path, stream)
    stream.seek(0)
    try:
        return docx.Document(stream)
    except zipfile.BadZipFile:
        raise ExtractionError(str(path), "not a valid DOCX: the file is not a zip archive") from None
    except PackageNotFoundError:
        raise ExtractionError(str(path), "not a valid DOCX: not a Word document package") from None
    except (KeyError, ValueError) as exc:
        raise ExtractionError(
            str(path), f"not a valid DOCX: a required part is missing or broken ({exc})"
        ) from None


def extract_docx(path: Path, file_type: FileType) -> Extracted:
    """DOCX: paragraphs and tables in document order, one segment per heading (``section`` = trail)."""
    from docx.table import Table

    with open_regular(path) as stream:
        document = _open_docx(path, stream)
    segments: list[Segment] = []
    trail: list[tuple[int, str]] = []
    current: list[str] = []
    section: str | None = None
    tables = 0
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            tables += 1
            current.append(_table_text(block))
            continue
        text = block.text.strip()
        level = _heading_level(block)
        if level is not None and text:
            if any(line.strip() for line in current):
                segments.append(Segment("\n".join(current).strip(), section=section))
            current = [text]
            while trail and trail[-1][0] >= level:
                trail.pop()
            trail.append((level, text))
            section = " > ".join(t for _, t in trail)
        elif text:
            current.append(text)
    if any(line.strip() for line in current):
        segments.append(Segment("\n".join(current).strip(), section=section))
    props = document.core_properties
    meta: dict[str, object] = {"tables": tables, "sections": sum(1 for s in segments if s.section)}
    if props.title:
        meta["title"] = props.title
    if props.author:
        meta["author"] = props.author
    return Extracted(file_type, guess_mime_type(path, file_type), segments, meta)
