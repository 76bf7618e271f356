"""Walk a directory tree and decide which files to index.

Rules, checked per entry in this order (each skip is reported as a :class:`SkippedFile`):

- ``hidden``: a name starting with ``.`` (checked only below the root, so a root that itself lives under a
  hidden directory such as ``/tmp/.x/root`` works). The ignore files themselves are hidden.
- ``gitignore`` / ``kaguraignore``: git's own rules (see :mod:`kagura.loaders._ignore`), checked against
  ``git ls-files --others --exclude-standard`` by a differential test: every ``.gitignore`` and
  ``.kaguraignore`` applies relative to its own directory, a deeper file overrides a shallower one, the last
  matching pattern in a file wins, ``!negation`` re-includes, and an ignored directory is not entered (so,
  as in git, nothing below it can be re-included). ``.kaguraignore`` (same syntax) overrides ``.gitignore``
  of the same directory. When the root is a git work tree, its ``info/exclude`` applies below every
  ``.gitignore``. As in git, a symlinked ``.gitignore`` is not read, a symlink is never a directory for
  ``dir/`` patterns, names are matched byte-wise (undecodable names included) and case-sensitively, and a
  line git cannot parse is skipped without failing the scan.
- ``default-ignore``: :data:`DEFAULT_IGNORES`, what code-search tools leave out without being told
  (dependency folders such as ``node_modules/``, virtual environments (a folder holding ``pyvenv.cfg``),
  Python bytecode and caches, package build metadata): a layer of gitignore patterns below every ignore
  file, so a ``.gitignore`` or ``.kaguraignore`` line ``!name`` re-includes what it names;
  ``default_ignores=False`` turns it off. Ignored directories are not entered.
- ``broken-symlink``, ``symlink-loop``, ``symlink-outside-root``: symlinks are followed only when their
  target resolves inside the root; a target outside is never read. A directory reached again through a
  symlink to one of its ancestors is a ``symlink-loop``; one already scanned elsewhere is ``already-scanned``.
- ``not-a-regular-file`` (FIFOs, sockets, devices: never opened), ``unreadable`` (permission or I/O errors,
  directories included), ``disappeared`` (removed while scanning), ``too-large`` (over ``max_file_size``).

The walk uses ``os.scandir`` and sorts entries by name, so the result is deterministic.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kagura._checks import check_bool, check_int
from kagura.loaders._ignore import IgnoreLayer, IgnorePattern, git_info_exclude, parse_ignore_file
from kagura.loaders._types import ScannedFile, ScanResult, SkippedFile

__all__ = ["DEFAULT_IGNORES", "DEFAULT_MAX_FILE_SIZE", "SKIP_RULES", "scan_directory"]

DEFAULT_MAX_FILE_SIZE = 50 * 2**20
_MAX_IGNORE_FILE_SIZE = 100 * 2**20  # git skips larger pattern files too
_IGNORE_FILES = ((".gitignore", "gitignore"), (".kaguraignore", "kaguraignore"))

DEFAULT_IGNORES = (
    "node_modules/",
    "bower_components/",
    "jspm_packages/",
    "__pycache__/",
    "*.py[cod]",
    "*$py.class",
    "*.egg-info/",
    "site-packages/",
    "__pypackages__/",
)
"""gitignore patterns skipped by default (rule ``default-ignore``). Names starting with ``.`` (``.git``,
``.venv``, ``.tox``, ``.mypy_cache``, ``.pytest_cache``, ``.next`` ...) are already skipped as hidden, and a
virtual environment is skipped by what it holds, whatever its name (a ``pyvenv.cfg`` file: ``venv/``,
``env/``), never by the name alone (the standard library has a ``venv`` package)."""

SKIP_RULES = (
    "already-scanned",
    "broken-symlink",
    "default-ignore",
    "disappeared",
    "gitignore",
    "hidden",
    "kaguraignore",
    "not-a-regular-file",
    "symlink-loop",
    "symlink-outside-root",
    "too-large",
    "unreadable",
)
"""Every ``SkippedFile.rule`` the scan can report."""


@dataclass(frozen=True, slots=True)
class _Frame:
    """A directory waiting to be listed; ``key`` is its (device, inode)."""

    path: Path
    rel: str
    layers: tuple[IgnoreLayer, ...]
    ancestors: frozenset[tuple[int, int]]
    key: tuple[int, int]
    via_symlink: bool


class _Scanner:
    def __init__(self, root: Path, max_file_size: int, default_ignores: bool = True) -> None:
        self.root = root
        self.default_ignores = default_ignores
        self.root_real = Path(os.path.realpath(root))
        self.max_file_size = max_file_size
        self.files: list[ScannedFile] = []
        self.skipped: list[SkippedFile] = []
        self.visited: set[tuple[int, int]] = set()

    def skip(self, rel: str, rule: str, detail: str = "") -> None:
        self.skipped.append(SkippedFile(str(self.root / rel) if rel else str(self.root), rule, detail))

    def inside_root(self, path: str) -> bool:
        return Path(os.path.realpath(path)).is_relative_to(self.root_real)

    def run(self) -> ScanResult:
        st = self.root.stat()
        key = (st.st_dev, st.st_ino)
        stack = [_Frame(self.root, "", self.root_layers(), frozenset(), key, via_symlink=False)]
        linked: list[_Frame] = []
        # Real directories first, symlinked ones after, so a link to a directory of the tree is reported as
        # "already-scanned" whatever the name order; the files keep their real paths.
        while stack or linked:
            if not stack:
                linked.sort(key=lambda f: f.rel)
                stack.append(linked.pop(0))
            frame = stack.pop()
            if not self.enter(frame):
                continue
            children = self.scan_dir(frame)
            linked.extend(c for c in children if c.via_symlink)
            # Reversed so that popping visits subdirectories in name order.
            stack.extend(reversed([c for c in children if not c.via_symlink]))
        self.files.sort(key=lambda f: f.relpath)
        self.skipped.sort(key=lambda s: s.path)
        return ScanResult(files=self.files, skipped=self.skipped)

    def enter(self, frame: _Frame) -> bool:
        if frame.key in frame.ancestors:
            self.skip(frame.rel, "symlink-loop", "symlink to one of its own parent directories")
            return False
        if frame.key in self.visited:
            self.skip(frame.rel, "already-scanned", "directory already scanned under another path")
            return False
        self.visited.add(frame.key)
        return True

    def scan_dir(self, frame: _Frame) -> list[_Frame]:
        try:
            with os.scandir(frame.path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            self.skip(frame.rel, "disappeared", "directory removed during the scan")
            return []
        except OSError as exc:
            self.skip(frame.rel, "unreadable", f"cannot list directory: {exc.strerror or exc}")
            return []
        layers = frame.layers + self.read_ignore_files(frame, entries)
        children: list[_Frame] = []
        for entry in entries:
            rel = f"{frame.rel}/{entry.name}" if frame.rel else entry.name
            child = self.visit(entry, rel, layers, frame.ancestors, frame.key)
            if child is not None:
                children.append(child)
        return children

    def read_ignore_files(self, frame: _Frame, entries: list[os.DirEntry[str]]) -> tuple[IgnoreLayer, ...]:
        by_name = {e.name: e for e in entries}
        base = os.fsencode(frame.rel)
        layers: list[IgnoreLayer] = []
        for filename, rule in _IGNORE_FILES:
            entry = by_name.get(filename)
            if entry is None:
                continue
            rel = f"{frame.rel}/{filename}" if frame.rel else filename
            if entry.is_symlink() and not self.inside_root(entry.path):
                self.skip(rel, "symlink-outside-root", "ignore file points outside the root; not read")
                continue
            # git (2.32+) does not follow a symlinked .gitignore; kagura's own file may be a link in the root.
            patterns = self.read_patterns(entry.path, rel, follow=rule != "gitignore")
            if patterns is not None:
                layers.append(IgnoreLayer(base, rule, patterns))
        return tuple(layers)

    def read_patterns(self, path: str, rel: str, *, follow: bool = True) -> tuple[IgnorePattern, ...] | None:
        """The patterns of one ignore file, or None if it is not a readable regular file (reported).

        Opened non-blocking and checked on the open descriptor, so a FIFO put in its place never hangs
        the scan; ``follow=False`` refuses a symlink at open time, as git does for ``.gitignore``.
        """
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # ELOOP: a symlink, not followed
                self.skip(rel, "unreadable", f"cannot read ignore file: {exc.strerror or exc}")
            return None
        with os.fdopen(fd, "rb") as fh:
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return None
                if st.st_size > _MAX_IGNORE_FILE_SIZE:
                    detail = f"ignore file over {_MAX_IGNORE_FILE_SIZE} bytes; not read (as git)"
                    self.skip(rel, "too-large", detail)
                    return None
                return parse_ignore_file(fh.read(_MAX_IGNORE_FILE_SIZE + 1))
            except OSError as exc:
                self.skip(rel, "unreadable", f"cannot read ignore file: {exc.strerror or exc}")
                return None

    def root_layers(self) -> tuple[IgnoreLayer, ...]:
        """The default ignores (lowest priority), then ``.git/info/exclude`` when the root is a git work tree
        (below every ``.gitignore`` in priority)."""
        layers: list[IgnoreLayer] = []
        if self.default_ignores:
            defaults = parse_ignore_file("\n".join(DEFAULT_IGNORES).encode())
            layers.append(IgnoreLayer(b"", "default-ignore", defaults))
        exclude = git_info_exclude(self.root)
        patterns = None if exclude is None else self.read_patterns(str(exclude), ".git")
        if patterns is not None:
            layers.append(IgnoreLayer(b"", "gitignore", patterns))
        return tuple(layers)

    def ignored_by(self, layers: tuple[IgnoreLayer, ...], rel: str, is_dir: bool) -> str | None:
        name = os.fsencode(rel)  # matched byte-wise, as git does (undecodable names included)
        for layer in reversed(layers):  # deepest (and .kaguraignore) first: it overrides the rest
            verdict = layer.check(name, is_dir)
            if verdict is not None:
                return layer.rule if verdict else None
        return None

    def visit(
        self,
        entry: os.DirEntry[str],
        rel: str,
        layers: tuple[IgnoreLayer, ...],
        ancestors: frozenset[tuple[int, int]],
        parent: tuple[int, int],
    ) -> _Frame | None:
        if entry.name.startswith("."):
            self.skip(rel, "hidden")
            return None
        try:  # as in git, a symlink is not a directory for "dir/" patterns, even if it points to one
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        rule = self.ignored_by(layers, rel, is_dir)
        if rule is not None:
            self.skip(rel, rule)
            return None
        is_link = entry.is_symlink()
        try:
            st = entry.stat()
        except OSError as exc:
            self.skip_unstatable(rel, is_link, exc)
            return None
        if is_link and not self.inside_root(entry.path):
            self.skip(rel, "symlink-outside-root", "target resolves outside the root; not read")
            return None
        if stat.S_ISDIR(st.st_mode):
            if self.default_ignores and os.path.isfile(os.path.join(entry.path, "pyvenv.cfg")):
                self.skip(rel, "default-ignore", "a Python virtual environment (pyvenv.cfg)")
                return None
            key = (st.st_dev, st.st_ino)
            return _Frame(Path(entry.path), rel, layers, ancestors | {parent}, key, via_symlink=is_link)
        if not stat.S_ISREG(st.st_mode):
            self.skip(rel, "not-a-regular-file", "FIFO, socket or device; not opened")
        elif st.st_size > self.max_file_size:
            self.skip(rel, "too-large", f"{st.st_size} bytes, over the {self.max_file_size}-byte limit")
        elif not os.access(entry.path, os.R_OK):
            self.skip(rel, "unreadable", "permission denied")
        else:
            self.files.append(ScannedFile(Path(entry.path), rel, st.st_size))
        return None

    def skip_unstatable(self, rel: str, is_link: bool, exc: OSError) -> None:
        if is_link and (exc.errno == errno.ELOOP):
            self.skip(rel, "symlink-loop", "symlink points back to itself")
        elif is_link and isinstance(exc, FileNotFoundError):
            self.skip(rel, "broken-symlink", "symlink target does not exist")
        elif isinstance(exc, FileNotFoundError):
            self.skip(rel, "disappeared", "removed during the scan")
        else:
            self.skip(rel, "unreadable", exc.strerror or str(exc))


def scan_directory(
    root: str | os.PathLike[str], *, max_file_size: int = DEFAULT_MAX_FILE_SIZE, default_ignores: bool = True
) -> ScanResult:
    """Find the files to index under ``root`` (blocking; call it through ``asyncio.to_thread``).

    Returns a :class:`ScanResult` whose ``files`` and ``skipped`` lists are sorted by path. See the module
    docstring for the rules; ``default_ignores=False`` indexes what :data:`DEFAULT_IGNORES` names too.
    Raises ``ValueError`` if ``root`` is not an existing directory or
    ``max_file_size`` is not a positive integer.
    """
    check_int("max_file_size", max_file_size, hint=" (a positive number of bytes)")
    check_bool("default_ignores", default_ignores)
    root_path = Path(os.fspath(root))
    if not root_path.exists():
        raise ValueError(f"cannot scan {root_path}: no such directory")
    if not root_path.is_dir():
        raise ValueError(f"cannot scan {root_path}: it is a file, pass the directory that contains it")
    return _Scanner(root_path, max_file_size, default_ignores).run()
