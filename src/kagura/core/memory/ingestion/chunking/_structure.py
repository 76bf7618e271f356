"""Code-aware chunking: cut a document where its structure says, so local edits move few boundaries.

Every strategy turns a text into *units* (a top-level definition, a heading section, a config section, a
paragraph), each with a label shown in search results (``"JSONDecoder.decode"``, ``"Install > Linux"``,
``"[tool.ruff]"``). Units are then packed into chunks of at most ``chunk_size`` characters:

* **Python**: one unit per top-level ``def``/``class`` (with the decorators and comments just above it);
  the module code between definitions (docstring, imports, constants) is a unit of its own. A definition
  larger than a chunk is split at its inner definitions (methods, labelled ``Class.method``), then at blank
  lines. Boundaries come from column-0 lines, never from a parse, so an edit that breaks the syntax (an
  unclosed quote) moves nothing but its own unit.
* **Other code**, **plain text**: blank-line blocks.
* **Markdown**: the heading sections the extractor found; long sections by paragraphs.
* **Config** (Dockerfile, Makefile, Caddyfile, TOML, INI, YAML, ...): the whole file when it is small,
  else sections (``[table]``, top-level keys, ``FROM`` stages, targets, site blocks).

Small consecutive blocks are packed together, and a pack is also closed after any block whose content hash
says so (content-defined cut points), so a block that grows or shrinks shifts at most the packs up to the
next such point, never the rest of the file. A block still larger than a chunk is cut between lines the
same way (one line longer than a chunk falls back to :func:`split_text`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from kagura.core.memory.ingestion.chunking._packing import Unit, blank_line_blocks, pack_units
from kagura.core.memory.ingestion.chunking._pieces import ChunkPiece, SegmentLike, check_chunking

__all__ = ["CHUNKER_VERSION", "chunk_document", "chunk_strategy"]

CHUNKER_VERSION = "structure-2"
"""Part of the manifest's chunking key: bump when any strategy's output changes."""

_CONFIG_NAMES = {"dockerfile", "makefile", "gnumakefile", "caddyfile", "procfile", "justfile", "vagrantfile"}
_CONFIG_SUFFIXES = {
    ".toml", ".ini", ".cfg", ".conf", ".yaml", ".yml", ".properties", ".env", ".def", ".service", ".mk",
}  # fmt: skip
_DECORATOR = re.compile(r"@[A-Za-z_]")
_DEF = re.compile(r"(async\s+def|def|class)\s+([A-Za-z_]\w*)")
_CODE_SYMBOL = re.compile(
    r"^\s*(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:public\s+|private\s+|static\s+|async\s+)*"
    r"(?:function|func|fn|def|class|struct|enum|interface|trait|impl|type|module|sub|proc)\s+([A-Za-z_][\w:.<>]*)"
)
_JS_BINDING = re.compile(r"^(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=")
"""A top-level JavaScript/TypeScript binding (``export const formatPrice = (...) => ...``), at column 0."""
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S")
_MD_HEADING_ONLY = re.compile(r"^ {0,3}#{1,6}[ \t]+[^\n]+$")
_SECTION_HEADER = re.compile(r"^\[\[?[^\]]+\]\]?\s*(?:[#;].*)?$")
_CLOSERS = (")", "]", "}")
_CONTINUATIONS = ("else", "elif", "except", "finally", *_CLOSERS)
_TOP_KEY = re.compile(r"^[\w.-]+\s*:(\s|$)")


def chunk_strategy(relpath: str, file_type: str) -> str:
    """Which strategy chunks this file: ``python``, ``code``, ``markdown``, ``config`` or ``prose``."""
    path = PurePosixPath(relpath)
    name, suffix = path.name.lower(), path.suffix.lower()
    if suffix in (".py", ".pyw", ".pyi"):
        return "python"
    if name in _CONFIG_NAMES or name.startswith("dockerfile") or suffix in _CONFIG_SUFFIXES:
        return "config"
    if file_type == "yaml":
        return "config"
    if file_type == "markdown":
        return "markdown"
    if file_type == "code":
        return "code"
    return "prose"


def chunk_document(
    segments: Iterable[SegmentLike],
    *,
    relpath: str,
    file_type: str,
    chunk_size: int,
    overlap: int,
) -> list[ChunkPiece]:
    """Chunk the extracted segments of one file with the strategy its name and type call for.

    Segments keep their page (PDF) and section (Markdown heading trail); a chunk never spans two segments.
    ``overlap`` applies only where a block too large for a chunk is cut at fixed offsets.
    """
    check_chunking(chunk_size, overlap)
    strategy = chunk_strategy(relpath, file_type)
    out: list[ChunkPiece] = []
    for segment in _without_bare_headings(list(segments)):
        units = _units(strategy, segment.text, segment.section, chunk_size)
        first_line = getattr(segment, "line", None)
        locate = None if first_line is None else LineLocator(segment.text, first_line)
        packed = list(pack_units(units, chunk_size, overlap))
        if strategy == "markdown" and len(packed) > 1:  # a lone heading line: its title is in the label
            packed = [(t, label) for t, label in packed if not _MD_HEADING_ONLY.match(t.strip())] or packed
        for text, label in packed:
            start, end = (None, None) if locate is None else locate(text)
            out.append(ChunkPiece(text, len(out), segment.page, label, start, end))
    return out


class LineLocator:
    """The file lines each chunk of a segment spans, chunk after chunk (in order; chunks may overlap).

    A chunk is made of whole lines of the segment (or, when one line is longer than a chunk, part of
    one): its first and last non-blank lines are looked up from where the previous chunk started."""

    def __init__(self, text: str, first_line: int) -> None:
        self.lines = [line.strip() for line in text.splitlines()]
        self.first_line = first_line
        self.cursor = 0

    def _find(self, wanted: str, start: int) -> int | None:
        for index in range(start, len(self.lines)):
            if self.lines[index] == wanted:
                return index
        for index in range(start, len(self.lines)):  # part of a long line
            if wanted and wanted in self.lines[index]:
                return index
        return None

    def __call__(self, chunk: str) -> tuple[int | None, int | None]:
        parts = [line.strip() for line in chunk.splitlines() if line.strip()]
        if not parts:
            return None, None
        start = self._find(parts[0], self.cursor)
        if start is None:
            return None, None
        self.cursor = start
        span = start + len(chunk.strip().splitlines()) - 1  # a slice of the segment's lines, as usual
        if span < len(self.lines) and self.lines[span] == parts[-1]:
            return self.first_line + start, self.first_line + span
        # otherwise the last line, no earlier than its non-blank lines allow (a "}" repeats in a file)
        end = self._find(parts[-1], start + len(parts) - 1) if len(parts) > 1 else start
        return self.first_line + start, self.first_line + (start if end is None else end)


def _without_bare_headings(segments: list[SegmentLike]) -> list[SegmentLike]:
    """Drop a segment that is only its own heading (``## 2.x``, a page title alone) when the next segment
    is a subsection of it: the subsection's heading trail names it already, and a chunk of one heading
    ranks high on vectors while answering nothing."""
    kept: list[SegmentLike] = []
    for index, segment in enumerate(segments):
        following = segments[index + 1] if index + 1 < len(segments) else None
        section = segment.section or ""
        if (
            following is not None
            and section
            and (following.section or "").startswith(f"{section} > ")
            and _is_heading_only(segment.text, section)
        ):
            continue
        kept.append(segment)
    return kept


def _is_heading_only(text: str, section: str) -> bool:
    """Only the heading itself (``## 2.x``, an underline), and perhaps a page title that starts with it
    (``Changelog | Lantern docs``, as an HTML page's title opens its first section)."""
    last = section.rsplit(" > ", 1)[-1].strip()
    lines = [line.strip().lstrip("#").strip() for line in text.splitlines() if line.strip()]
    return len(lines) <= 3 and all(
        line == last or line.strip("=-") == "" or (line.startswith(last) and len(line) <= len(last) + 40)
        for line in lines
    )


def _units(strategy: str, text: str, section: str | None, chunk_size: int) -> list[Unit]:
    if strategy == "python":
        return list(_python_units(text, chunk_size))
    if strategy == "config":
        if len(text.strip()) <= chunk_size:
            return [Unit(text, section)]
        return list(_config_units(text))
    blocks = blank_line_blocks(text)
    if strategy == "markdown":
        blocks = _headings_joined(blocks)
    return [Unit(block, _code_label(block) if strategy == "code" else section) for block in blocks]


def _headings_joined(blocks: list[str]) -> list[str]:
    """A block that is only a Markdown heading goes with the block after it (a long section's heading never
    makes a chunk of its own)."""
    out: list[str] = []
    pending = ""
    for block in blocks:
        if _MD_HEADING.match(block.strip()) and "\n" not in block.strip():
            pending = f"{pending}\n\n{block}" if pending else block
            continue
        out.append(f"{pending}\n\n{block}" if pending else block)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _code_label(block: str) -> str | None:
    for line in block.splitlines():
        match = _CODE_SYMBOL.match(line) or _JS_BINDING.match(line)
        if match:
            return match.group(1)
    return None


# -- Python -------------------------------------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _starts_definition(line: str, indent: int) -> str | None:
    """The name defined by ``line`` at exactly ``indent`` (``@decorator`` gives ``""``), else None."""
    if not line.strip() or _indent(line) != indent:
        return None
    stripped = line.strip()
    if _DECORATOR.match(stripped):
        return ""
    match = _DEF.match(stripped)
    return match.group(2) if match else None


def _split_at_definitions(lines: list[str], indent: int) -> list[tuple[list[str], str | None]]:
    """Cut ``lines`` before every definition at ``indent`` (its decorators and the comments right above
    it go with it), and before code at ``indent`` that follows an indented block (so the body of a class
    whose header line was edited away does not swallow the code after it). Returns (lines, defined name
    or None for code between definitions)."""
    parts: list[tuple[list[str], str | None]] = []
    current: list[str] = []
    name: str | None = None
    pending = False  # inside a decorator run: the next def belongs to the same part
    deeper = False  # the last code line was indented past ``indent`` (a block body)
    for line in lines:
        defined = _starts_definition(line, indent)
        if defined is not None and not pending:
            # comments (at this indent) directly above the definition move with it
            lead: list[str] = []
            while current and current[-1].strip().startswith("#") and _indent(current[-1]) == indent:
                lead.insert(0, current.pop())
            if any(item.strip() for item in current):
                parts.append((current, name))
            current, name = lead, None
        if defined is not None:
            pending = defined == ""
            if defined:
                name = defined
        elif (
            line.strip()
            and _indent(line) <= indent
            and not line.strip().startswith(("#", *_CLOSERS))  # ``) -> T:`` ends a signature
        ):
            after_block = name is None and deeper and not line.strip().startswith(_CONTINUATIONS)
            if (name is not None or after_block) and _indent(line) == indent and not pending and current:
                # module/class-level code after a definition starts a part of its own (with its comments)
                lead = []
                while current and current[-1].strip().startswith("#") and _indent(current[-1]) == indent:
                    lead.insert(0, current.pop())
                parts.append((current, name))
                current, name = lead, None
            pending = False
        current.append(line)
        if line.strip() and not line.strip().startswith("#"):
            deeper = _indent(line) > indent
    if any(item.strip() for item in current):
        parts.append((current, name))
    return parts


def _python_units(text: str, chunk_size: int) -> Iterator[Unit]:
    lines = text.splitlines()
    for group, (part, name) in enumerate(_split_at_definitions(lines, 0)):
        body = "\n".join(part).strip("\n")
        label = name if name is not None else "module" if group == 0 else _first_code_line(part)
        if len(body) <= chunk_size:
            yield Unit(body, label, alone=name is not None, group=group)
        else:  # also module code: an indented body there (a class whose header line was edited away)
            yield from _inner_units(part, label, chunk_size, group)


def _first_code_line(lines: list[str]) -> str | None:
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped[:60]
    return None


def _inner_units(lines: list[str], name: str | None, chunk_size: int, group: int) -> Iterator[Unit]:
    """A part too large for one chunk: split at its inner definitions, then at blank lines."""
    body_indent = min((_indent(line) for line in lines if line.strip() and _indent(line) > 0), default=4)
    for part, inner in _split_at_definitions(lines, body_indent):
        label = name if inner is None else f"{name}.{inner}" if name else inner
        text = "\n".join(part).strip("\n")
        if len(text) <= chunk_size:
            yield Unit(text, label, alone=inner is not None, group=group)
        else:
            yield from (Unit(block, label, group=group) for block in blank_line_blocks(text))


# -- config files -------------------------------------------------------------------------------------------


def _config_units(text: str) -> Iterator[Unit]:
    """Sections start at column-0 lines after a blank line and at ``[table]``, ``FROM``, ``key:`` lines."""
    current: list[str] = []
    label: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        opens = (
            bool(stripped)
            and _indent(line) == 0
            and not stripped.startswith(("#", ";", "}", "]", ")"))
            and (
                not current
                or not current[-1].strip()
                or _SECTION_HEADER.match(stripped) is not None
                or stripped.upper().startswith("FROM ")
                or _TOP_KEY.match(stripped) is not None
            )
        )
        if opens and any(item.strip() for item in current):
            yield Unit("\n".join(current).strip("\n"), label)
            current = []
        if opens and not current:
            label = stripped[:60]
        current.append(line)
    if any(item.strip() for item in current):
        yield Unit("\n".join(current).strip("\n"), label)
