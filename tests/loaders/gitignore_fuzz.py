"""Differential fuzzing of the scanner's ignore decisions against git itself.

A seeded generator builds small trees (nested dirs, non-ASCII and non-UTF-8 names, names with glob
characters) and ignore files (nested ``.gitignore`` files, a root ``.gitignore``, ``.git/info/exclude``)
full of negated, anchored, directory-only, escaped, ``**``, character-class and malformed lines, with
CRLF endings, BOMs and Unicode line breaks. Many cases share one fresh repository (each case in its own
directory), and ``scan_directory`` must keep exactly the files ``git ls-files --others --exclude-standard``
lists (hidden paths aside: the scanner skips those by its own rule).

Run standalone for many cases (from the repository root)::

    PYTHONPATH=src python -m tests.loaders.gitignore_fuzz --cases 5000 --seed 1
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kagura.loaders import scan_directory
from kagura.loaders._ignore import IgnoreLayer, IgnorePattern, parse_ignore_file

NAMES = [
    b"a", b"b", b"ab", b"abc", b"foo", b"bar", b"foo.txt", b"bar.log", b"x.log", b"keep.log", b"README.md",
    b"data", b"build", b"src", b"lib", b"1", b"a1", b"9z", b"A", b"Foo", b"UPPER.TXT", b"-dash", b"]x",
    "caf\u00e9".encode(), "\u540d\u524d".encode(), b"caf\xe9", b"\xff\xfe", b"sp ace", b"trail ", b"tab\t",
    b"#hash", b"!bang", b"[br]", b"star*", b"q?", b"back\\slash", b"cr\r", b"nl\nx", b"x:y", b"^c", b"~t",
    b".hidden", b"a.b.c", b"**", b"\\", b"{a,b}", b"v\x0b", b"f\x0cx", b"\x01", b"[a", b"a[", b"[[:bogus:]]",
    b"[!]", b"x[a-]", b"\\ ", b"foo\\",
]  # fmt: skip

MALFORMED = [
    b"!", b"\\", b"foo\\", b"a\\", b"foo\\ ", b"foo\\  ", b"foo  ", b"foo \\ ", b"\\ ", b" ", b"\t", b"/",
    b"//", b"!/", b"**", b"***", b"/**/", b"a/**b", b"**a", b"[", b"[a", b"a[", b"[[:bogus:]]", b"[[:]",
    b"[]", b"[!]", b"[\\", b"x[a-]", b"[z-a]", b"\\#hash", b"\\!bang", b"!!bang", b"#not", b" #hash", b"a/",
    b"*/", b"**/", b"/*", b"/**", b"!*", b"!**/", b"\\*", b"\\?", b"\\[br]", b"[[]br]", b"star\\*",
    b"foo\0bar", b"x \0y", b"\0#",
    b"\xef\xbb\xbf*.log", b"sp\\ ace", b"trail\\ ", b"tab\t", b"cr\r", "caf\u00e9".encode(), b"caf\xe9",
]  # fmt: skip

LINE_BREAKS = [b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", "\x85".encode(), "\u2028".encode(), b"\r"]
CLASSES = [
    b"[abc]", b"[a-c]", b"[!a]", b"[^a-b]", b"[[:digit:]]", b"[[:alpha:]]", b"[[:alnum:]]", b"[[:upper:]]",
    b"[[:lower:]]", b"[[:space:]]", b"[[:punct:]]", b"[[:xdigit:]]", b"[[:print:]]", b"[[:graph:]]",
    b"[[:blank:]]", b"[[:cntrl:]]", b"[]a]", b"[!]a]", b"[a-]", b"[-a]", b"[\\]]", b"[\\a-c]", b"[a-\\c]",
    "[\u00e9]".encode(), b"[\xe9]", b"[\x80-\xff]", b"[^\x80-\xff]", b"[[:digit:]a-c]", b"[*?]", b"[/]",
    b"[a-c-e]", b"[[]", b"[[:alpha:][:digit:]]",
]  # fmt: skip


@dataclass
class Case:
    """One tree and its ignore files, laid out under ``prefix`` (a directory of the shared repository)."""

    files: list[bytes] = field(default_factory=list)  # relative to the case directory
    ignore_files: dict[bytes, bytes] = field(default_factory=dict)  # dir (b"" = case dir) -> content


class Generator:
    """Seeded source of trees and patterns; the same seed always gives the same cases."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def name(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.7:
            return rng.choice(NAMES)
        return rng.choice(NAMES).rstrip(b" ") + rng.choice([b"", b"2", b".txt", b".log", b"-x", b"\xc3\xa9"])

    def case(self) -> Case:
        rng = self.rng
        dirs = [b""]
        for _ in range(rng.randint(1, 4)):
            parent = rng.choice(dirs)
            child = self.name().strip(b".") or b"d"
            dirs.append(parent + b"/" + child if parent else child)
        files = set()
        for _ in range(rng.randint(4, 14)):
            parent = rng.choice(dirs)
            name = self.name()
            files.add(parent + b"/" + name if parent else name)
        case = Case(files=sorted(self.fix_conflicts(files, dirs)))
        for d in rng.sample(dirs, k=min(len(dirs), rng.randint(1, 3))):
            case.ignore_files[d] = self.ignore_file(case.files, d)
        return case

    @staticmethod
    def fix_conflicts(files: set[bytes], dirs: list[bytes]) -> list[bytes]:
        """Drop files whose path is also used as a directory (or that sit under a file)."""
        taken = {d for d in dirs if d}
        return [f for f in files if f not in taken and not any(f.startswith(t + b"/") for t in files)]

    def ignore_file(self, files: list[bytes], base: bytes) -> bytes:
        rng = self.rng
        local = [f[len(base) + 1 :] if base else f for f in files if not base or f.startswith(base + b"/")]
        lines = [self.pattern(local) for _ in range(rng.randint(1, 7))]
        newline = rng.choice([b"\n", b"\n", b"\n", b"\r\n"])
        body = newline.join(lines)
        if rng.random() < 0.8:
            body += newline
        if rng.random() < 0.1:
            body = b"\xef\xbb\xbf" + body
        return body

    def pattern(self, local: list[bytes]) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            line = rng.choice(MALFORMED)
        elif roll < 0.2:
            line = self.pattern(local) + rng.choice(LINE_BREAKS) + self.pattern(local)
        elif roll < 0.75 and local:
            line = self.mutate(rng.choice(local))
        else:
            line = b"/".join(self.component() for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.2:
            line = b"!" + line
        if rng.random() < 0.1:
            line += rng.choice([b" ", b"  ", b"\\ ", b"\t", b" \\ "])
        return line

    def component(self) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            return self.escape(self.name())
        if roll < 0.55:
            return rng.choice([b"*", b"**", b"***", b"?", b"*?", b"?*"])
        if roll < 0.75:
            return rng.choice(CLASSES)
        return self.escape(self.name()[:2]) + rng.choice([b"*", b"**", b"?", rng.choice(CLASSES)])

    def escape(self, name: bytes) -> bytes:
        out = bytearray()
        for byte in name:
            if byte in b"*?[\\" or (byte in b"!# " and self.rng.random() < 0.5) or self.rng.random() < 0.05:
                out += b"\\"
            out.append(byte)
        return bytes(out)

    def mutate(self, path: bytes) -> bytes:
        """A pattern aimed at an existing path: some parts turned into wildcards, dirs, anchors."""
        rng = self.rng
        parts = path.split(b"/")
        if len(parts) > 1 and rng.random() < 0.5:
            parts = parts[: rng.randint(1, len(parts) - 1)] + ([b"**"] if rng.random() < 0.3 else [])
        if rng.random() < 0.5:
            parts = parts[-rng.randint(1, len(parts)) :]
        out = []
        for part in parts:
            if part == b"**":
                out.append(part)
                continue
            roll = rng.random()
            if roll < 0.4 or len(part) < 2:
                out.append(self.escape(part))
            elif roll < 0.55:
                out.append(b"*" + self.escape(part[len(part) // 2 :]))
            elif roll < 0.7:
                out.append(self.escape(part[: len(part) // 2]) + rng.choice([b"*", b"**", b"***"]))
            elif roll < 0.8:
                i = rng.randrange(len(part))
                out.append(self.escape(part[:i]) + rng.choice([b"?", *CLASSES]) + self.escape(part[i + 1 :]))
            else:
                out.append(rng.choice([b"*", b"**", b"?*"]))
        line = b"/".join(out)
        roll = rng.random()
        if roll < 0.2:
            line = b"/" + line
        elif roll < 0.3:
            line = b"**/" + line
        if rng.random() < 0.2:
            line += b"/"
        elif rng.random() < 0.1:
            line += b"/**"
        return line


def git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run git in ``root`` with no user or system configuration, so only the repository's files count."""
    home = "/nonexistent/kagura-gitignore-fuzz"  # no user configuration can be found there
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CONFIG_HOME": home,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    run = subprocess.run(
        ["git", "-C", str(root), *args], input=stdin, check=True, capture_output=True, env=env
    )
    return run.stdout


def init_repo(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "config", "user.email", "fuzz@example.invalid")
    git(root, "config", "user.name", "fuzz")
    git(root, "config", "core.ignorecase", "false")


def git_kept(root: Path) -> set[bytes]:
    """Files git keeps (``ls-files --cached --others --exclude-standard``), hidden paths aside."""
    out = git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return {p for p in out.split(b"\0") if p and not any(part.startswith(b".") for part in p.split(b"/"))}


def kagura_kept(root: Path) -> set[bytes]:
    return {os.fsencode(f.relpath) for f in scan_directory(root, default_ignores=False).files}


@dataclass
class Outcome:
    cases: int = 0
    paths: int = 0  # files whose fate was compared (hidden ones aside)
    ignored: int = 0  # of those, how many git ignores
    mismatches: list[str] = field(default_factory=list)


def write_tree(root: Path, files: list[bytes], ignore_files: dict[bytes, bytes]) -> None:
    broot = os.fsencode(root)
    for rel in files:
        path = os.path.join(broot, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b"x")
    for d, content in ignore_files.items():
        path = os.path.join(broot, d, b".gitignore") if d else os.path.join(broot, b".gitignore")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(content)


def _join(prefix: bytes, rel: bytes) -> bytes:
    return prefix + b"/" + rel if prefix and rel else prefix or rel


def run_batch(gen: Generator, cases: int, workdir: Path, *, at_root: bool = False) -> Outcome:
    """``cases`` cases in one fresh repository under ``workdir``, each in its own directory, plus a root
    ``.gitignore`` and ``info/exclude`` aimed at their files. ``at_root``: one case laid at the repository
    root itself (anchored patterns of the root file, any pattern in ``info/exclude``).
    """
    root = workdir / "repo"
    root.mkdir()
    init_repo(root)
    generated = [gen.case() for _ in range(1 if at_root else cases)]
    prefixes = [b""] if at_root else [f"k{i:04d}".encode() for i in range(cases)]
    all_files: list[bytes] = []
    ignores: dict[bytes, bytes] = {}
    for prefix, case in zip(prefixes, generated, strict=True):
        all_files += [_join(prefix, f) for f in case.files]
        ignores.update({_join(prefix, d): c for d, c in case.ignore_files.items()})
    if at_root:
        exclude = b"\n".join(gen.pattern(all_files) for _ in range(3)) + b"\n"
    else:  # batch-wide patterns aimed at files, never at the case directories
        basenames = sorted({f.rsplit(b"/", 1)[-1] for f in all_files})
        contents = []
        for _ in range(2):
            lines = [gen.mutate(gen.rng.choice(basenames)).lstrip(b"/") for _ in range(3)]
            lines = [b"**/" + line if not line.startswith(b"**/") else line for line in lines]
            lines = [line for line in lines if not IgnorePattern.parse(line).matches(prefixes[0], True)]
            contents.append(b"\n".join(lines) + b"\n")
        ignores[b""], exclude = contents
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_bytes(exclude)
    write_tree(root, all_files, ignores)
    expected, got = git_kept(root), kagura_kept(root)
    compared = [f for f in all_files if not any(part.startswith(b".") for part in f.split(b"/"))]
    outcome = Outcome(cases=len(generated), paths=len(compared), ignored=len(compared) - len(expected))
    for prefix, case in zip(prefixes, generated, strict=True):
        mine = {p for p in got if p.startswith(prefix + b"/")} if prefix else got
        theirs = {p for p in expected if p.startswith(prefix + b"/")} if prefix else expected
        if mine != theirs:
            outcome.mismatches.append(describe(root, prefix, case, theirs, mine))
        outcome.mismatches += cross_check(prefix, case)
    shutil.rmtree(root)
    return outcome


def cross_check(prefix: bytes, case: Case) -> list[str]:
    """Internal agreement on the case's paths: the regex and the automaton of every generated line, and
    a layer's folded expressions against trying its lines one by one (as files and as directories).

    Git only ever judges what the scan asks, so this carries its verdict over to the paths not taken.
    """
    problems = []
    for base, content in case.ignore_files.items():
        local = [
            f[len(base) + 1 :] if base else f for f in case.files if not base or f.startswith(base + b"/")
        ]
        texts = {t for f in local for t in (f, f.rsplit(b"/", 1)[-1])}
        layer = IgnoreLayer(b"", "gitignore", parse_ignore_file(content))
        for pattern in layer.patterns:
            for text in texts:
                if pattern.glob.matches(text) != pattern.glob.matches_by_automaton(text):
                    problems.append(
                        f"case {prefix!r}: {pattern.glob.pattern!r} on {text!r}: regex != automaton"
                    )
        for text in texts:
            for is_dir in (False, True):
                if layer.check(text, is_dir) != layer.check_line_by_line(text, is_dir):
                    problems.append(f"case {prefix!r}: {content!r} on {text!r}: folded != line by line")
    return problems


def describe(root: Path, prefix: bytes, case: Case, git_set: set[bytes], mine: set[bytes]) -> str:
    lines = [f"case {prefix!r} in {root}:"]
    lines += [f"  ignore file {d or b'.'!r}: {c!r}" for d, c in case.ignore_files.items()]
    if prefix:
        lines.append(f"  root .gitignore: {(root / '.gitignore').read_bytes()!r}")
    lines.append(f"  info/exclude: {(root / '.git' / 'info' / 'exclude').read_bytes()!r}")
    lines += [f"  only git keeps:    {p!r}" for p in sorted(git_set - mine)]
    lines += [f"  only kagura keeps: {p!r}" for p in sorted(mine - git_set)]
    return "\n".join(lines)


def scratch_dir() -> str | None:
    """A RAM-backed temp location if there is one (trees of thousands of tiny files), else the default."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def fuzz(cases: int, seed: int, batch: int = 100, *, at_root: bool = False) -> Outcome:
    """Run ``cases`` generated cases (``batch`` per repository, or one per repository laid at its root
    with ``at_root``) and return the totals.
    """
    gen = Generator(seed)
    total = Outcome()
    with tempfile.TemporaryDirectory(prefix="kagura-gitignore-fuzz-", dir=scratch_dir()) as tmp:
        done = 0
        while done < cases:
            n = 1 if at_root else min(batch, cases - done)
            part = run_batch(gen, n, Path(tmp), at_root=at_root)
            total.cases += part.cases
            total.paths += part.paths
            total.ignored += part.ignored
            total.mismatches += part.mismatches
            done += n
    return total


def compare_tree(root: Path) -> tuple[int, list[str]]:
    """Compare the scan of an existing work tree with git; return (paths compared, differences).

    Set aside, as outside the ignore rules: hidden paths (the scanner's own rule), symlinks and nested
    repositories (git lists them as entries, the scanner follows or reports them), tracked files that an
    ignore rule matches (git lists them because they are in its index, which the scanner does not read),
    and files the scan drops by another rule (too large, unreadable).
    """
    listed = {
        p for p in git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split(b"\0") if p
    }
    tracked_ignored = set(
        git(root, "ls-files", "--cached", "--ignored", "--exclude-standard", "-z").split(b"\0")
    )
    broot = os.fsencode(root)

    def via_link(rel: bytes) -> bool:
        parts = rel.split(b"/")
        return any(os.path.islink(os.path.join(broot, *parts[: i + 1])) for i in range(len(parts)))

    result = scan_directory(root, default_ignores=False)
    other_rules = {
        os.fsencode(os.path.relpath(s.path, root))
        for s in result.skipped
        if s.rule not in ("gitignore", "kaguraignore", "hidden")
    }
    expected = {
        p
        for p in listed - tracked_ignored - other_rules
        if not p.endswith(b"/")
        and not any(part.startswith(b".") for part in p.split(b"/"))
        and not via_link(p)
    }
    got = {os.fsencode(f.relpath) for f in result.files}
    got = {p for p in got if not via_link(p)}
    diffs = [f"only git keeps:    {p!r}" for p in sorted(expected - got)]
    diffs += [f"only kagura keeps: {p!r}" for p in sorted(got - expected)]
    return len(expected | got), diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=100, help="cases per git repository")
    parser.add_argument(
        "--root-cases",
        type=int,
        default=None,
        help="extra cases laid at a repository root (default: cases/10)",
    )
    parser.add_argument("--tree", type=Path, help="instead: compare the scan of this git work tree with git")
    args = parser.parse_args(argv)
    if args.tree is not None:
        paths, diffs = compare_tree(args.tree)
        print("\n".join(diffs[:50]))
        print(f"tree={args.tree} paths={paths} mismatches={len(diffs)}")
        return 1 if diffs else 0
    result = fuzz(args.cases, args.seed, args.batch)
    at_root = fuzz(args.cases // 10 if args.root_cases is None else args.root_cases, args.seed, at_root=True)
    result.cases += at_root.cases
    result.paths += at_root.paths
    result.ignored += at_root.ignored
    result.mismatches += at_root.mismatches
    for text in result.mismatches[:20]:
        print(text)
    print(
        f"cases={result.cases} paths={result.paths} ignored_by_git={result.ignored} "
        f"mismatches={len(result.mismatches)}"
    )
    return 1 if result.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
