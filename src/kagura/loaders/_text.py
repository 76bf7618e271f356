"""Extractors for text-like files: plain text, code, markdown (sections), JSON, YAML, CSV, and ``unknown``.

Bytes are decoded as UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else goes through
``charset-normalizer`` (Shift-JIS, cp1252, ...). The encoding found is in ``metadata["encoding"]``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from kagura.errors import ExtractionError
from kagura.loaders._detect import code_language, guess_mime_type, looks_binary
from kagura.loaders._optional import missing_library
from kagura.loaders._safe import read_regular
from kagura.loaders._types import Extracted, FileType, Segment

__all__ = ["decode_text", "markdown_sections"]

_PREFERRED = ("cp1252", "latin_1", "iso8859_15", "cp932", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr")
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode_text(data: bytes, path: Path) -> tuple[str, str]:
    """Decode file bytes to text; returns (text, encoding). Raises ExtractionError for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                break
    if looks_binary(data[:8192]):
        raise ExtractionError(str(path), "binary data, not text (a text extension on a binary file?)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a core dependency
        raise missing_library("charset-normalizer") from None
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise ExtractionError(str(path), "not valid UTF-8 and no other text encoding fits: binary data?")
    # Short texts often tie (cp1250 vs cp1252 score the same on French): prefer the commoner encoding.
    tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    tied.sort(key=lambda m: _PREFERRED.index(m.encoding) if m.encoding in _PREFERRED else len(_PREFERRED))
    chosen = tied[0] if tied else best
    return str(chosen), chosen.encoding


def _read_text(path: Path) -> tuple[str, str]:
    return decode_text(read_regular(path), path)


def _plain(path: Path, file_type: FileType, text: str, encoding: str, **metadata: object) -> Extracted:
    meta: dict[str, object] = {"encoding": encoding, "lines": text.count("\n") + 1, **metadata}
    return Extracted(file_type, guess_mime_type(path, file_type), [Segment(text, line=1)], meta)


def extract_text(path: Path, file_type: FileType) -> Extracted:
    """Plain text: the whole file as one segment."""
    text, encoding = _read_text(path)
    return _plain(path, file_type, text, encoding)


def extract_code(path: Path, file_type: FileType) -> Extracted:
    """Source code: one segment, ``metadata["language"]`` from the extension."""
    text, encoding = _read_text(path)
    return _plain(path, file_type, text, encoding, language=code_language(path))


def extract_yaml(path: Path, file_type: FileType) -> Extracted:
    """YAML: the text as written (keys and comments are what people search for)."""
    text, encoding = _read_text(path)
    return _plain(path, file_type, text, encoding)


def extract_json(path: Path, file_type: FileType) -> Extracted:
    """JSON / JSON Lines: the text as written; ``metadata["valid_json"]`` says whether it parses."""
    text, encoding = _read_text(path)
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for line in text.splitlines():
                if line.strip():
                    json.loads(line)
        else:
            json.loads(text)
        valid = True
    except ValueError:
        valid = False
    return _plain(path, file_type, text, encoding, valid_json=valid)


def extract_csv(path: Path, file_type: FileType) -> Extracted:
    """CSV/TSV: the text as written; ``metadata`` has the header columns and the row count."""
    text, encoding = _read_text(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        rows = []
    header = rows[0] if rows else []
    return _plain(path, file_type, text, encoding, columns=header, rows=max(len(rows) - 1, 0))


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_NOT_SETEXT_TEXT = re.compile(r"^ {0,3}(#{1,6}[ \t]|[-*+][ \t]|\d+[.)][ \t]|>|\|)")


def _front_matter_length(lines: list[str]) -> int:
    """Number of lines of a leading ``---`` ... ``---`` YAML front matter block (0 if none)."""
    if not lines or lines[0].strip() != "---":
        return 0
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return index + 1
    return 0


def markdown_sections(text: str) -> list[Segment]:
    """Split markdown at ATX (``#``) and setext headings, outside fenced code blocks.

    Each segment starts with its heading line; ``section`` is the heading trail, e.g.
    ``"Authentication > Tokens"``. Text before the first heading has ``section=None``.
    """
    segments: list[Segment] = []
    trail: list[tuple[int, str]] = []
    current: list[str] = []
    numbers: list[int] = []  # the file line (0-based) of each line of ``current``
    section: str | None = None
    fence: str | None = None

    def flush() -> None:
        first = next((i for i, line in enumerate(current) if line.strip()), None)
        if first is not None:
            segments.append(Segment("\n".join(current).strip("\n"), section=section, line=numbers[first] + 1))
        current.clear()
        numbers.clear()

    def open_heading(level: int, title: str, lines: list[tuple[int, str]]) -> None:
        nonlocal section
        flush()
        while trail and trail[-1][0] >= level:
            trail.pop()
        trail.append((level, title))
        section = " > ".join(t for _, t in trail)
        numbers.extend(n for n, _ in lines)
        current.extend(line for _, line in lines)

    lines = text.splitlines()
    front = _front_matter_length(lines)
    current.extend(lines[:front])  # YAML front matter: kept as text, never read as headings
    numbers.extend(range(front))
    for number, line in enumerate(lines[front:], start=front):
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            fence = marker if fence is None else (None if marker == fence else fence)
        if fence is None and not fence_match:
            atx = _ATX.match(line)
            if atx and atx.group(2):
                open_heading(len(atx.group(1)), atx.group(2).strip(), [(number, line)])
                continue
            setext = _SETEXT.match(line)
            if setext and current and current[-1].strip() and not _NOT_SETEXT_TEXT.match(current[-1]):
                title = current.pop().strip()
                title_number = numbers.pop()
                level = 1 if setext.group(1)[0] == "=" else 2
                open_heading(level, title, [(title_number, title), (number, line)])
                continue
        current.append(line)
        numbers.append(number)
    flush()
    return segments


def extract_markdown(path: Path, file_type: FileType) -> Extracted:
    """Markdown: one segment per heading section, ``Segment.section`` = heading trail."""
    text, encoding = _read_text(path)
    segments = markdown_sections(text)
    headings = [seg.section for seg in segments if seg.section]
    meta = {"encoding": encoding, "lines": text.count("\n") + 1, "sections": len(headings)}
    return Extracted(file_type, guess_mime_type(path, file_type), segments, meta)


def extract_unknown(path: Path, file_type: FileType) -> Extracted:
    """Files of no supported type: always an ExtractionError saying why."""
    head = read_regular(path, 8192)
    if looks_binary(head):
        reason = f"unsupported binary file (extension {path.suffix or 'none'!r}; content is not text)"
    else:
        reason = f"unsupported file type (extension {path.suffix or 'none'!r})"
    raise ExtractionError(str(path), reason)
