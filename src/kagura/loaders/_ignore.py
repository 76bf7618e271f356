"""Ignore files read and applied exactly as git does (``.gitignore``, ``info/exclude``, ``.kaguraignore``).

Reading (gitignore(5), and git's observed behaviour):

- the file is bytes; a leading UTF-8 BOM is dropped; lines end at ``\\n`` only, and one ``\\r`` before it
  is dropped (CRLF files); other control or Unicode line-break characters are part of the pattern;
- an empty line or one starting with ``#`` is skipped (``\\#`` is a literal ``#``); a NUL byte ends its line;
- trailing spaces are trimmed unless escaped with a backslash (``foo\\ `` keeps one space); tabs are kept;
- a leading ``!`` negates (``\\!`` is a literal ``!``); a trailing ``/`` matches directories only;
- a pattern with no other ``/`` matches a name at any depth; otherwise it is anchored to the directory of
  its file (one leading ``/`` is dropped) and matched with :class:`~kagura.loaders._wildmatch.Wildmatch`;
- a line git cannot use (a lone ``!`` or ``\\``, a trailing lone backslash, a broken ``[``) matches
  nothing; the other lines still apply. Nothing here raises on file content.

Applying: within one file the last matching line wins; a deeper file wins over a shallower one; the scan
never enters an ignored directory, so nothing below it can be re-included (git's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kagura.loaders._wildmatch import Wildmatch

__all__ = ["IgnoreLayer", "IgnorePattern", "git_info_exclude", "parse_ignore_file"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class IgnorePattern:
    """One usable line of an ignore file."""

    negative: bool  # "!pattern": re-include
    dir_only: bool  # "pattern/": directories only
    basename: bool  # no slash: matched against the last path component only
    glob: Wildmatch

    @classmethod
    def parse(cls, line: bytes) -> IgnorePattern:
        """Parse one line that is already trimmed (not empty, not a comment)."""
        negative = line.startswith(b"!")
        if negative:
            line = line[1:]
        dir_only = line.endswith(b"/")
        if dir_only:
            line = line[:-1]
        if b"/" not in line:
            return cls(negative, dir_only, True, Wildmatch(line))
        if line.startswith(b"/"):
            line = line[1:]
        return cls(negative, dir_only, False, Wildmatch(line, split_prefix=True))

    def matches(self, local: bytes, is_dir: bool) -> bool:
        """Whether this line matches ``local`` (the path relative to the ignore file's directory)."""
        if self.dir_only and not is_dir:
            return False
        if self.basename:
            return self.glob.matches(local[local.rfind(b"/") + 1 :])
        return self.glob.matches(local)


def _trim_trailing_spaces(line: bytes) -> bytes:
    """Drop trailing spaces that are not escaped; a line ending in a lone backslash is kept whole."""
    cut = None  # where the current run of unescaped spaces started
    i = 0
    while i < len(line):
        byte = line[i]
        if byte == 0x20:
            if cut is None:
                cut = i
        else:
            if byte == 0x5C:  # backslash: the next byte is escaped
                i += 1
                if i == len(line):
                    return line
            cut = None
        i += 1
    return line if cut is None else line[:cut]


def parse_ignore_file(data: bytes) -> tuple[IgnorePattern, ...]:
    """Every usable pattern of an ignore file's raw content, in file order."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    patterns: list[IgnorePattern] = []
    for line in data.split(b"\n"):
        if not line or line.startswith(b"#"):
            continue
        if line.endswith(b"\r"):
            line = line[:-1]
        line = line.split(b"\0", 1)[0]  # git reads each line as a C string: a NUL ends it
        patterns.append(IgnorePattern.parse(_trim_trailing_spaces(line)))
    return tuple(patterns)


_DIR_MARK, _FILE_MARK = b"\0D", b"\0F"  # appended to the text of a combined expression (no name has NUL)


def _combine(indexed: list[tuple[int, IgnorePattern]]) -> tuple[re.Pattern[bytes], tuple[int, ...]] | None:
    """One expression whose alternatives are ``indexed`` from the last line to the first, so the first
    alternative that matches is the last matching line; returns it and the line index of each group.
    """
    if not indexed:
        return None
    ordered = sorted(indexed, key=lambda item: -item[0])
    alternatives = []
    for _, pattern in ordered:
        assert pattern.glob.source is not None
        mark = "\\x00D" if pattern.dir_only else "\\x00[DF]"
        alternatives.append(f"((?:{pattern.glob.source}){mark})")
    return re.compile("|".join(alternatives).encode("latin-1")), tuple(i for i, _ in ordered)


class IgnoreLayer:
    """The patterns of one ignore file; ``base`` is its directory relative to the root (``b""`` = root).

    For speed the lines are folded into two regular expressions, one for the lines matched against the
    last name of a path and one for the lines matched against the whole path; the later of the two
    winners wins, as if each line were tried from the last to the first. Lines that run on the
    automaton (many wildcards) are tried on their own; lines that match nothing are dropped.
    """

    __slots__ = ("_by_automaton", "_by_name", "_by_path", "base", "patterns", "rule")

    def __init__(self, base: bytes, rule: str, patterns: tuple[IgnorePattern, ...]) -> None:
        self.base = base
        self.rule = rule  # the SkippedFile rule reported for what it ignores
        self.patterns = patterns
        by_name = [(i, p) for i, p in enumerate(patterns) if p.basename and p.glob.source is not None]
        by_path = [(i, p) for i, p in enumerate(patterns) if not p.basename and p.glob.source is not None]
        self._by_name = _combine(by_name)
        self._by_path = _combine(by_path)
        automaton = [(i, p) for i, p in enumerate(patterns) if p.glob.source is None and not p.glob.never]
        self._by_automaton = tuple(reversed(automaton))

    def check(self, rel: bytes, is_dir: bool) -> bool | None:
        """True if this file ignores ``rel``, False if it re-includes it, None if no line matches."""
        local = rel[len(self.base) + 1 :] if self.base else rel
        mark = _DIR_MARK if is_dir else _FILE_MARK
        best = -1
        if self._by_name is not None:
            found = self._by_name[0].fullmatch(local[local.rfind(b"/") + 1 :] + mark)
            if found is not None:
                best = self._by_name[1][found.lastindex - 1]  # type: ignore[operator]
        if self._by_path is not None:
            found = self._by_path[0].fullmatch(local + mark)
            if found is not None:
                best = max(best, self._by_path[1][found.lastindex - 1])  # type: ignore[operator]
        for index, pattern in self._by_automaton:
            if index <= best:
                break
            if pattern.matches(local, is_dir):
                best = index
                break
        return None if best < 0 else not self.patterns[best].negative

    def check_line_by_line(self, rel: bytes, is_dir: bool) -> bool | None:
        """Same answer as :meth:`check`, trying each line on its own (the reference for tests)."""
        local = rel[len(self.base) + 1 :] if self.base else rel
        for pattern in reversed(self.patterns):
            if pattern.matches(local, is_dir):
                return not pattern.negative
        return None


def git_info_exclude(root: Path) -> Path | None:
    """``info/exclude`` of the repository whose work tree is ``root``, or None if ``root`` is not one.

    Handles a ``.git`` directory and a ``.git`` file (``gitdir: ...``, used by linked worktrees and
    submodules); a linked worktree reads the exclude file of its main repository (``commondir``).
    """
    dotgit = root / ".git"
    try:
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():
            first = dotgit.read_bytes()[:4096].split(b"\n", 1)[0].rstrip(b"\r")
            if not first.startswith(b"gitdir:"):
                return None
            gitdir = root / Path(first[len(b"gitdir:") :].strip().decode("utf-8", "surrogateescape"))
        else:
            return None
        common = gitdir
        commondir = gitdir / "commondir"
        if commondir.is_file():
            target = commondir.read_bytes().strip().decode("utf-8", "surrogateescape")
            common = gitdir / target
    except OSError:
        return None
    return common / "info" / "exclude"
