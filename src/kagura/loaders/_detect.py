"""Decide a file's :class:`FileType` from its content (magic numbers) and its extension.

Order: a known magic number wins (a PNG named ``notes.txt`` is an image); otherwise the extension decides;
a file whose extension says text but whose bytes are binary is ``unknown``; a file with an unknown
extension is ``text`` when its bytes look like text, else ``unknown``.
"""

from __future__ import annotations

import os
from pathlib import Path

from kagura.loaders._types import FileType

__all__ = ["code_language", "detect_file_type", "guess_mime_type", "looks_binary", "sniff"]

_SNIFF_BYTES = 8192

_CODE_EXTENSIONS = {
    ".bash": "bash", ".c": "c", ".cc": "cpp", ".cfg": "ini", ".clj": "clojure", ".cpp": "cpp",
    ".cs": "csharp", ".css": "css", ".dart": "dart", ".el": "elisp", ".erl": "erlang", ".ex": "elixir",
    ".exs": "elixir", ".fs": "fsharp", ".go": "go", ".h": "c", ".hpp": "cpp", ".hs": "haskell",
    ".ini": "ini", ".java": "java", ".jl": "julia", ".js": "javascript", ".jsx": "javascript",
    ".kt": "kotlin", ".lua": "lua", ".m": "objective-c", ".mjs": "javascript", ".php": "php",
    ".pl": "perl", ".ps1": "powershell", ".py": "python", ".pyi": "python", ".r": "r", ".rb": "ruby",
    ".rs": "rust", ".scala": "scala", ".scss": "scss", ".sh": "shell", ".sql": "sql", ".swift": "swift",
    ".toml": "toml", ".ts": "typescript", ".tsx": "typescript", ".vue": "vue", ".xml": "xml",
    ".zig": "zig", ".zsh": "shell",
}  # fmt: skip
"""Extensions of source files -> language name (``metadata["language"]`` of code extractions)."""

_CODE_FILENAMES = {"Dockerfile": "dockerfile", "Makefile": "make", "CMakeLists.txt": "cmake"}

_EXTENSIONS: dict[str, FileType] = {
    **dict.fromkeys((".txt", ".text", ".rst", ".log", ".adoc", ".org"), FileType.TEXT),
    **dict.fromkeys((".md", ".markdown", ".mdown", ".mkd", ".mdx"), FileType.MARKDOWN),
    **dict.fromkeys((".json", ".jsonl", ".ndjson", ".geojson"), FileType.JSON),
    **dict.fromkeys((".yaml", ".yml"), FileType.YAML),
    **dict.fromkeys((".csv", ".tsv"), FileType.CSV),
    ".pdf": FileType.PDF,
    ".docx": FileType.DOCX,
    **dict.fromkeys((".html", ".htm", ".xhtml"), FileType.HTML),
    **dict.fromkeys(
        (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".ico"), FileType.IMAGE
    ),
    **dict.fromkeys((".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac"), FileType.AUDIO),
    **dict.fromkeys((".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".ogv"), FileType.VIDEO),
    **dict.fromkeys(_CODE_EXTENSIONS, FileType.CODE),
}

_TEXT_TYPES = frozenset(
    {
        FileType.TEXT,
        FileType.CODE,
        FileType.MARKDOWN,
        FileType.JSON,
        FileType.YAML,
        FileType.CSV,
        FileType.HTML,
    }
)

_MIME_BY_EXTENSION = {
    ".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown", ".json": "application/json",
    ".yaml": "application/yaml", ".yml": "application/yaml", ".csv": "text/csv",
    ".tsv": "text/tab-separated-values", ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".html": "text/html", ".htm": "text/html", ".xhtml": "application/xhtml+xml", ".png": "image/png",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
    ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff", ".heic": "image/heic",
    ".ico": "image/vnd.microsoft.icon", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4",
    ".aac": "audio/aac", ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo", ".ogv": "video/ogg",
    ".py": "text/x-python", ".js": "text/javascript", ".ts": "text/x-typescript", ".css": "text/css",
    ".xml": "application/xml", ".toml": "application/toml", ".sh": "application/x-sh",
}  # fmt: skip

_DEFAULT_MIME = {
    FileType.TEXT: "text/plain", FileType.CODE: "text/plain", FileType.MARKDOWN: "text/markdown",
    FileType.JSON: "application/json", FileType.YAML: "application/yaml", FileType.CSV: "text/csv",
    FileType.PDF: "application/pdf", FileType.DOCX: _MIME_BY_EXTENSION[".docx"], FileType.HTML: "text/html",
    FileType.IMAGE: "image/unknown", FileType.AUDIO: "audio/unknown", FileType.VIDEO: "video/unknown",
    FileType.UNKNOWN: "application/octet-stream",
}  # fmt: skip


def _sniff_riff(head: bytes) -> tuple[FileType, str] | None:
    kind = head[8:12]
    return {
        b"WAVE": (FileType.AUDIO, "audio/wav"),
        b"WEBP": (FileType.IMAGE, "image/webp"),
        b"AVI ": (FileType.VIDEO, "video/x-msvideo"),
    }.get(kind)


def _sniff_ftyp(head: bytes) -> tuple[FileType, str] | None:
    brand = head[8:12]
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return FileType.AUDIO, "audio/mp4"
    if brand in (b"heic", b"heix", b"mif1", b"avif"):
        return FileType.IMAGE, "image/avif" if brand == b"avif" else "image/heic"
    if brand == b"qt  ":
        return FileType.VIDEO, "video/quicktime"
    return FileType.VIDEO, "video/mp4"


def _sniff_zip(path: Path | None) -> tuple[FileType, str] | None:
    if path is None:
        return None
    import zipfile

    from kagura.errors import ExtractionError
    from kagura.loaders._safe import open_regular

    try:
        with open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile, ValueError, ExtractionError):
        return None
    if "word/document.xml" in names:
        return FileType.DOCX, _MIME_BY_EXTENSION[".docx"]
    return None


_MAGIC: tuple[tuple[bytes, tuple[FileType, str]], ...] = (
    (b"%PDF-", (FileType.PDF, "application/pdf")),
    (b"\x89PNG\r\n\x1a\n", (FileType.IMAGE, "image/png")),
    (b"\xff\xd8\xff", (FileType.IMAGE, "image/jpeg")),
    (b"GIF87a", (FileType.IMAGE, "image/gif")),
    (b"GIF89a", (FileType.IMAGE, "image/gif")),
    (b"II*\x00", (FileType.IMAGE, "image/tiff")),
    (b"MM\x00*", (FileType.IMAGE, "image/tiff")),
    (b"ID3", (FileType.AUDIO, "audio/mpeg")),
    (b"fLaC", (FileType.AUDIO, "audio/flac")),
    (b"OggS", (FileType.AUDIO, "audio/ogg")),
    (b"\x1aE\xdf\xa3", (FileType.VIDEO, "video/webm")),
)


def sniff(head: bytes, path: Path | None = None) -> tuple[FileType, str] | None:
    """The (type, MIME type) that the first bytes of a file prove, or None when no magic number matches."""
    for magic, found in _MAGIC:
        if head.startswith(magic):
            if found[1] == "audio/ogg" and path is not None and path.suffix.lower() == ".ogv":
                return FileType.VIDEO, "video/ogg"
            return found
    if head[:4] == b"RIFF" and len(head) >= 12:
        return _sniff_riff(head)
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # a UTF-16 byte-order mark, which would otherwise pass for an MPEG frame sync
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        if head[2] >> 4 != 0xF and (head[2] >> 2) & 0x3 != 0x3:  # valid bitrate and sample-rate indexes
            return FileType.AUDIO, "audio/mpeg"  # an MPEG audio frame sync without an ID3 tag
    return None


def looks_binary(head: bytes) -> bool:
    """True when a sample of bytes is not text: a NUL byte, or many control characters.

    UTF-16/UTF-32 with a byte-order mark counts as text.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    if b"\x00" in head:
        return True
    if not head:
        return False
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27, 8))
    return controls / len(head) > 0.1


def _read_head(path: Path) -> bytes:
    from kagura.errors import ExtractionError
    from kagura.loaders._safe import read_regular

    try:
        return read_regular(path, _SNIFF_BYTES)
    except (OSError, ExtractionError):
        return b""  # the extractor reports why the file cannot be read


def _type_by_name(path: Path) -> FileType | None:
    if path.name in _CODE_FILENAMES:
        return FileType.CODE
    return _EXTENSIONS.get(path.suffix.lower())


def detect_file_type(path: str | os.PathLike[str]) -> FileType:
    """The :class:`FileType` of ``path`` from its magic number, extension and content (blocking).

    A file that cannot be read is typed by its extension alone; :func:`extract_file` reports the error.
    """
    p = Path(os.fspath(path))
    head = _read_head(p)
    sniffed = sniff(head, p)
    if sniffed is not None:
        return sniffed[0]
    by_name = _type_by_name(p)
    if by_name is None:
        return FileType.TEXT if head and not looks_binary(head) else FileType.UNKNOWN
    if by_name in _TEXT_TYPES and looks_binary(head):
        return FileType.UNKNOWN
    return by_name


def code_language(path: Path) -> str | None:
    """The programming language of a source file, from its name, or None."""
    return _CODE_FILENAMES.get(path.name) or _CODE_EXTENSIONS.get(path.suffix.lower())


def guess_mime_type(path: Path, file_type: FileType) -> str:
    """The MIME type of a file: from its magic number, else its extension, else a default for its type."""
    sniffed = sniff(_read_head(path), path)
    if sniffed is not None and sniffed[0] == file_type:
        return sniffed[1]
    return _MIME_BY_EXTENSION.get(path.suffix.lower()) or _DEFAULT_MIME[file_type]
