"""The extractor registry and :func:`extract_file`, the one boundary where failures become ExtractionError.

An extractor is a function ``(path, file_type) -> Extracted`` registered for one or more file types with a
version string (:func:`extractor_version`): bump the version when the extractor's output changes, so stores
that key their manifest on it re-extract the affected files. Extractors import their library lazily.
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kagura.errors import ConfigurationError, ExtractionError, NothingToIndexError
from kagura.loaders._types import Extracted, FileType

__all__ = ["ExtractorFunc", "extract_file", "extractor_version", "register_extractor"]

ExtractorFunc = Callable[[Path, FileType], Extracted]


@dataclass(frozen=True, slots=True)
class _Entry:
    func: ExtractorFunc
    version: str


# The built-in extractors: file type -> ("module:function", version). Imported on first use of each type,
# so a PDF never loads the audio stack; the extractor modules know nothing of the registry.
_BUILTIN: dict[FileType, tuple[str, str]] = {
    FileType.PDF: ("kagura.loaders._documents:extract_pdf", "pdf-1"),
    FileType.DOCX: ("kagura.loaders._documents:extract_docx", "docx-1"),
    FileType.HTML: ("kagura.loaders._html:extract_html", "html-3"),
    FileType.IMAGE: ("kagura.loaders._media:extract_image", "image-1"),
    FileType.AUDIO: ("kagura.loaders._media:extract_audio", "audio-1"),
    FileType.VIDEO: ("kagura.loaders._media:extract_video", "video-1"),
    FileType.TEXT: ("kagura.loaders._text:extract_text", "text-1"),
    FileType.CODE: ("kagura.loaders._text:extract_code", "code-1"),
    FileType.YAML: ("kagura.loaders._text:extract_yaml", "yaml-1"),
    FileType.JSON: ("kagura.loaders._text:extract_json", "json-1"),
    FileType.CSV: ("kagura.loaders._text:extract_csv", "csv-1"),
    FileType.MARKDOWN: ("kagura.loaders._text:extract_markdown", "markdown-2"),
    FileType.UNKNOWN: ("kagura.loaders._text:extract_unknown", "unknown-1"),
}
# Extractors registered with register_extractor (plug-ins, or a replacement for a built-in).
_REGISTERED: dict[FileType, _Entry] = {}


def register_extractor(*file_types: FileType, version: str) -> Callable[[ExtractorFunc], ExtractorFunc]:
    """Decorator: make ``func`` the extractor of ``file_types`` (replacing any previous one)."""
    if not file_types:
        raise ValueError("register_extractor needs at least one FileType")
    if not version:
        raise ValueError("register_extractor needs a non-empty version string")

    def decorate(func: ExtractorFunc) -> ExtractorFunc:
        for file_type in file_types:
            _REGISTERED[FileType(file_type)] = _Entry(func, version)
        return func

    return decorate


def _entry(file_type: FileType) -> _Entry:
    registered = _REGISTERED.get(file_type)
    if registered is not None:
        return registered
    target, version = _BUILTIN[file_type]
    module_name, _, attr = target.partition(":")
    return _Entry(getattr(importlib.import_module(module_name), attr), version)


def _as_file_type(file_type: FileType | str) -> FileType:
    try:
        return FileType(file_type)
    except ValueError:
        choices = ", ".join(t.value for t in FileType)
        raise ValueError(f"unknown file type {file_type!r}; use one of: {choices}") from None


def extractor_version(file_type: FileType | str) -> str:
    """The version of the extractor for ``file_type`` (part of the store's manifest key)."""
    file_type = _as_file_type(file_type)
    registered = _REGISTERED.get(file_type)
    return registered.version if registered is not None else _BUILTIN[file_type][1]


def _check_regular_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ExtractionError(str(path), "file disappeared since the scan (deleted or moved)") from None
    except OSError as exc:
        raise ExtractionError(str(path), f"cannot access the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ExtractionError(str(path), "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ExtractionError(str(path), "not a regular file (FIFO, socket or device); not opened")
    if st.st_size == 0:
        raise NothingToIndexError(str(path), "empty file (0 bytes): nothing to index")


def extract_file(path: str | os.PathLike[str], file_type: FileType | str | None = None) -> Extracted:
    """Extract the text and metadata of one file (blocking; call it through ``asyncio.to_thread``).

    ``file_type`` defaults to :func:`detect_file_type`. The result always has at least one segment: an
    empty file, a file with no text, a corrupt or encrypted document, a binary file with a text extension,
    a file deleted since the scan or an unreadable one raises :class:`kagura.errors.ExtractionError` with
    ``path`` and a human-readable ``reason``. A missing optional library raises ``ConfigurationError``.
    """
    from kagura.loaders._detect import detect_file_type

    p = Path(os.fspath(path))
    ft = _as_file_type(file_type) if file_type is not None else None
    _check_regular_file(p)
    if ft is None:
        ft = detect_file_type(p)
    entry = _entry(ft)
    try:
        result = entry.func(p, ft)
    except (ExtractionError, ConfigurationError):
        raise
    except FileNotFoundError:
        raise ExtractionError(str(p), "file disappeared while it was being read") from None
    except PermissionError:
        raise ExtractionError(str(p), "permission denied") from None
    except IsADirectoryError:
        raise ExtractionError(str(p), "is a directory, not a file") from None
    except OSError as exc:
        raise ExtractionError(str(p), f"could not read the file: {exc.strerror or exc}") from None
    except MemoryError:
        raise ExtractionError(str(p), f"not enough memory to extract this {ft.value} file") from None
    except Exception as exc:  # a parser bug or unexpected input: still a reason, never a traceback
        raise ExtractionError(str(p), f"could not extract {ft.value}: {type(exc).__name__}: {exc}") from exc
    if not any(seg.text.strip() for seg in result.segments):
        raise NothingToIndexError(str(p), f"no text found in this {ft.value} file")
    result.segments = [seg for seg in result.segments if seg.text.strip()]
    return result
