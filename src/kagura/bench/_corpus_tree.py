"""The tree and the questions behind ``kagura bench corpus``: a fixed selection of this Python's standard
library (code, docs, config files written by others, present wherever Python is), copied 1, 2 or 4 times.

The selection is a rule, not a list, so it works on every Python version: every public ``*.py`` directly in
``Lib/``, plus the files of :data:`PACKAGES` with a text suffix, minus test folders, changelogs and files over
:data:`MAX_BYTES`. Smaller sizes keep only answer files of the questions, up to a file size
(:data:`SIZES`): ``small`` for machines where the full tree takes too long to embed, ``quick`` for a smoke.
"""

from __future__ import annotations

import json
import shutil
import sysconfig
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = [
    "PACKAGES",
    "SIZES",
    "Question",
    "TreeInfo",
    "build_tree",
    "load_questions",
    "select_files",
    "stdlib_root",
]

PACKAGES = (
    "asyncio", "collections", "concurrent", "ctypes", "curses", "dbm", "email", "html", "http", "idlelib",
    "importlib", "json", "logging", "multiprocessing", "re", "sqlite3", "tomllib", "turtledemo", "unittest",
    "urllib", "venv", "wsgiref", "xml", "xmlrpc", "zipfile", "zoneinfo",
)  # fmt: skip
SUFFIXES = frozenset({".py", ".def", ".txt", ".cfg", ".rst", ".fish", ".csh", ""})
SKIP_DIRS = frozenset({"test", "tests", "idle_test", "__pycache__", "Icons", "macholib"})
SKIP_PREFIXES = ("NEWS", "HISTORY", "ChangeLog", "CREDITS")
MAX_BYTES = 100_000
SIZES: dict[str, int | None] = {"full": None, "small": 30_000, "quick": 6_000}
"""Tree size -> the largest answer file kept (None: the whole selection)."""


@dataclass(frozen=True, slots=True)
class Question:
    """A question whose answer is in one file (``answers``: that file's relpath on different Pythons)."""

    text: str
    answers: tuple[str, ...]
    evidence: str
    kind: str


@dataclass(frozen=True, slots=True)
class TreeInfo:
    """A built tree: where, how many files and bytes (all copies), and the relpaths of one copy."""

    root: Path
    files: int
    bytes: int
    relpaths: tuple[str, ...]


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def load_questions() -> list[Question]:
    """The questions shipped as package data (``kagura/bench/data/corpus_questions.json``)."""
    data = json.loads(
        resources.files("kagura.bench").joinpath("data/corpus_questions.json").read_text("utf-8")
    )
    return [Question(q["q"], tuple(q["answer"]), q["evidence"], q["kind"]) for q in data["questions"]]


def _wanted(path: Path, lib: Path) -> bool:
    rel = path.relative_to(lib)
    return (
        path.suffix in SUFFIXES
        and not any(part in SKIP_DIRS for part in rel.parts)
        and not path.name.startswith(SKIP_PREFIXES)
        and not path.name.startswith(".")
        and path.stat().st_size <= MAX_BYTES
    )


def select_files(lib: Path | None = None, *, size: str = "full") -> list[str]:
    """The relpaths (POSIX, sorted) the rule selects in ``lib`` (default: this Python's ``Lib/``) at
    ``size`` (a key of :data:`SIZES`)."""
    if size not in SIZES:
        raise ValueError(f"unknown corpus size {size!r}; use one of {', '.join(SIZES)}")
    lib = lib or stdlib_root()
    chosen = [p for p in lib.glob("*.py") if not p.name.startswith("_") and _wanted(p, lib)]
    for package in PACKAGES:
        folder = lib / package
        if folder.is_dir():
            chosen.extend(p for p in folder.rglob("*") if p.is_file() and _wanted(p, lib))
    relpaths = sorted({p.relative_to(lib).as_posix() for p in chosen})
    limit = SIZES[size]
    if limit is not None:
        answers = {a for q in load_questions() for a in q.answers}
        relpaths = [r for r in relpaths if r in answers and (lib / r).stat().st_size <= limit]
    return relpaths


def build_tree(dest: Path, *, copies: int = 1, size: str = "full") -> TreeInfo:
    """Copy the selection into ``dest`` (``copies`` > 1: into ``dest/copy-1`` ... ``dest/copy-N``)."""
    lib = stdlib_root()
    relpaths = select_files(lib, size=size)
    total = 0
    for copy in range(1, copies + 1):
        base = dest if copies == 1 else dest / f"copy-{copy}"
        for rel in relpaths:
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lib / rel, target)
            total += target.stat().st_size
    return TreeInfo(dest, len(relpaths) * copies, total, tuple(relpaths))
