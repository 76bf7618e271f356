"""scan_directory on real trees: ignore files, hidden rule, size limit, symlinks, special files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kagura.loaders import DEFAULT_IGNORES, SKIP_RULES, ScanResult, scan_directory

Unprivileged = Callable[[Callable[[], Any]], Any]


def write(root: Path, rel: str, data: str | bytes = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def kept(result: ScanResult) -> list[str]:
    return [f.relpath for f in result.files]


def rules(result: ScanResult, root: Path) -> dict[str, str]:
    return {Path(s.path).relative_to(root).as_posix(): s.rule for s in result.skipped}


def test_recursive_scan_is_sorted_posix_relative_and_sized(tmp_path: Path) -> None:
    write(tmp_path, "b.txt", "bb")
    write(tmp_path, "a/z.md", "zzz")
    write(tmp_path, "a/b/c.py", "c")
    result = scan_directory(tmp_path)
    assert kept(result) == ["a/b/c.py", "a/z.md", "b.txt"]
    assert [f.size for f in result.files] == [1, 3, 2]
    assert result.files[0].path == tmp_path / "a" / "b" / "c.py"
    assert result.skipped == []
    assert scan_directory(str(tmp_path)) == result  # deterministic, accepts str


def test_nested_gitignore_applies_relative_to_its_directory_with_negation(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\nbuild/\n")
    write(tmp_path, "sub/.gitignore", "!keep.log\n*.tmp\n/only-here.txt\n")
    for rel in ("a.log", "x.tmp", "only-here.txt", "build/out.txt", "sub/keep.log", "sub/drop.log",
                "sub/x.tmp", "sub/only-here.txt", "sub/deeper/only-here.txt", "sub/build/y.txt"):  # fmt: skip
        write(tmp_path, rel)
    result = scan_directory(tmp_path)
    # sub's patterns do not apply at the root; its anchored pattern only matches directly in sub/.
    assert kept(result) == ["only-here.txt", "sub/deeper/only-here.txt", "sub/keep.log", "x.tmp"]
    skipped = rules(result, tmp_path)
    for rel in ("a.log", "build", "sub/drop.log", "sub/x.tmp", "sub/only-here.txt", "sub/build"):
        assert skipped[rel] == "gitignore", rel
    assert "build/out.txt" not in skipped  # an ignored directory is reported once, not entered


def test_negation_cannot_reinclude_a_file_inside_an_ignored_directory(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "logs/\n!logs/important.txt\n")
    write(tmp_path, "logs/important.txt")
    result = scan_directory(tmp_path)
    assert kept(result) == []
    assert rules(result, tmp_path)["logs"] == "gitignore"


def test_kaguraignore_has_the_same_syntax_and_overrides_gitignore(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.md\n")
    write(tmp_path, ".kaguraignore", "*.csv\n!README.md\n")
    write(tmp_path, "README.md")
    write(tmp_path, "notes.md")
    write(tmp_path, "data/table.csv")
    result = scan_directory(tmp_path)
    assert kept(result) == ["README.md"]
    skipped = rules(result, tmp_path)
    assert skipped["notes.md"] == "gitignore"
    assert skipped["data/table.csv"] == "kaguraignore"


def test_hidden_rule_is_relative_to_the_root(tmp_path: Path) -> None:
    root = tmp_path / ".cache" / "project"  # the root itself lives under a hidden directory
    write(root, "visible.txt")
    write(root, ".env", "SECRET=1")
    write(root, ".git/config")
    write(root, "pkg/.hidden/inside.txt")
    result = scan_directory(root)
    assert kept(result) == ["visible.txt"]
    assert rules(result, root) == {".env": "hidden", ".git": "hidden", "pkg/.hidden": "hidden"}


def test_size_limit_is_per_file_and_inclusive(tmp_path: Path) -> None:
    write(tmp_path, "small.txt", "0123456789")
    write(tmp_path, "big.txt", "0123456789A")
    result = scan_directory(tmp_path, max_file_size=10)
    assert kept(result) == ["small.txt"]
    [skip] = result.skipped
    assert (skip.rule, Path(skip.path).name) == ("too-large", "big.txt")
    assert "11 bytes" in skip.detail


def test_symlinks_out_of_the_root_are_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "top secret")
    root = tmp_path / "root"
    write(root, "ok.txt")
    (root / "abs-link.txt").symlink_to(outside / "secret.txt")
    (root / "rel-link.txt").symlink_to(Path("..") / "outside" / "secret.txt")
    (root / "dir-link").symlink_to(outside, target_is_directory=True)
    result = scan_directory(root)
    assert kept(result) == ["ok.txt"]
    assert rules(result, root) == {
        "abs-link.txt": "symlink-outside-root",
        "rel-link.txt": "symlink-outside-root",
        "dir-link": "symlink-outside-root",
    }


def test_ignore_file_that_links_outside_the_root_is_not_read(tmp_path: Path) -> None:
    write(tmp_path, "outside/.gitignore", "*.txt\n")
    root = tmp_path / "root"
    write(root, "a.txt")
    (root / ".gitignore").symlink_to(tmp_path / "outside" / ".gitignore")
    result = scan_directory(root)
    assert kept(result) == ["a.txt"]
    assert any(s.rule == "symlink-outside-root" and s.path.endswith(".gitignore") for s in result.skipped)


def test_symlinks_inside_the_root_are_followed(tmp_path: Path) -> None:
    write(tmp_path, "real/doc.txt")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "real" / "doc.txt")
    (tmp_path / "a-link-to-real").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "hidden-target").symlink_to(tmp_path / ".stash", target_is_directory=True)
    write(tmp_path, ".stash/kept-through-link.txt")
    result = scan_directory(tmp_path)
    # A directory already scanned is not listed twice, even when the link sorts before the real path;
    # a link to an otherwise unreachable directory inside the root is followed.
    assert kept(result) == ["alias.txt", "hidden-target/kept-through-link.txt", "real/doc.txt"]
    assert rules(result, tmp_path) == {".stash": "hidden", "a-link-to-real": "already-scanned"}


def test_symlink_loops_are_survived_and_reported(tmp_path: Path) -> None:
    write(tmp_path, "sub/file.txt")
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "sub" / "self").symlink_to(tmp_path / "sub")
    (tmp_path / "self-loop").symlink_to(tmp_path / "self-loop")
    (tmp_path / "ping").symlink_to(tmp_path / "pong")
    (tmp_path / "pong").symlink_to(tmp_path / "ping")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    result = scan_directory(tmp_path)
    assert kept(result) == ["sub/file.txt"]
    assert rules(result, tmp_path) == {
        "dangling": "broken-symlink",
        "ping": "symlink-loop",
        "pong": "symlink-loop",
        "self-loop": "symlink-loop",
        "sub/self": "symlink-loop",
        "sub/up": "symlink-loop",
    }


def test_fifo_is_reported_and_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")  # opening it for reading would block forever
    result = scan_directory(tmp_path)
    assert kept(result) == []
    assert rules(result, tmp_path) == {"pipe.txt": "not-a-regular-file"}


def test_unreadable_directory_is_reported(world_tmp: Path, unprivileged: Unprivileged) -> None:
    write(world_tmp, "locked/inside.txt")
    write(world_tmp, "ok.txt")
    for path in (world_tmp / "ok.txt", world_tmp / "locked" / "inside.txt"):
        path.chmod(0o644)
    (world_tmp / "locked").chmod(0)
    result = unprivileged(lambda: scan_directory(world_tmp))
    assert kept(result) == ["ok.txt"]
    assert rules(result, world_tmp) == {"locked": "unreadable"}
    assert "Permission denied" in result.skipped[0].detail


def test_unreadable_file_is_reported(world_tmp: Path, unprivileged: Unprivileged) -> None:
    write(world_tmp, "ok.txt")
    write(world_tmp, "secret.txt")
    (world_tmp / "ok.txt").chmod(0o644)
    (world_tmp / "secret.txt").chmod(0)
    result = unprivileged(lambda: scan_directory(world_tmp))
    assert kept(result) == ["ok.txt"]
    assert rules(result, world_tmp) == {"secret.txt": "unreadable"}


def test_root_given_as_a_symlink(tmp_path: Path) -> None:
    write(tmp_path, "real/a.txt")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    result = scan_directory(tmp_path / "link")
    assert [f.path for f in result.files] == [tmp_path / "link" / "a.txt"]


def test_every_reported_rule_is_documented(tmp_path: Path) -> None:
    write(tmp_path, ".h")
    write(tmp_path, "big.txt", "xx")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    result = scan_directory(tmp_path, max_file_size=1)
    assert {s.rule for s in result.skipped} == {"hidden", "too-large", "symlink-loop"}
    assert {s.rule for s in result.skipped} <= set(SKIP_RULES)


def test_bad_arguments_raise_clear_errors(tmp_path: Path) -> None:
    write(tmp_path, "f.txt")
    with pytest.raises(ValueError, match="no such directory"):
        scan_directory(tmp_path / "missing")
    with pytest.raises(ValueError, match="is a file"):
        scan_directory(tmp_path / "f.txt")
    with pytest.raises(ValueError, match="positive"):
        scan_directory(tmp_path, max_file_size=0)
    with pytest.raises(TypeError, match="max_file_size"):
        scan_directory(tmp_path, max_file_size="10")  # type: ignore[arg-type]


def test_whitelist_idiom_and_deeper_negation_of_a_directory(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*\n!*/\n!*.py\nbuild/\n")
    write(tmp_path, "src/app.py")
    write(tmp_path, "src/notes.txt")
    write(tmp_path, "build/gen.py")
    write(tmp_path, "pkg/.gitignore", "!build/\n")
    write(tmp_path, "pkg/build/keep.py")
    result = scan_directory(tmp_path)
    assert kept(result) == ["pkg/build/keep.py", "src/app.py"]
    skipped = rules(result, tmp_path)
    assert (skipped["src/notes.txt"], skipped["build"]) == ("gitignore", "gitignore")


def test_default_ignores_skip_dependency_folders_and_bytecode_without_reading_them(tmp_path: Path) -> None:
    """No .gitignore: node_modules/, __pycache__/, *.pyc, venv/ and *.egg-info/ are skipped (not entered,
    so their files are never listed) with rule ``default-ignore``; the project's own files stay."""
    write(tmp_path, "app.js")
    write(tmp_path, "lib/util.py")
    write(tmp_path, "lib/util.pyc", b"\x00\x01")
    write(tmp_path, "lib/__pycache__/util.cpython-311.pyc", b"\x00")
    write(tmp_path, "node_modules/left-pad/index.js")
    write(tmp_path, "web/node_modules/react/index.js")
    write(tmp_path, "venv/lib/python3.11/site.py")
    write(tmp_path, "venv/pyvenv.cfg", "home = /usr/bin\n")
    write(tmp_path, "Lib/venv/__init__.py")  # the standard library's venv package: a name, not an environment
    write(tmp_path, "pkg.egg-info/PKG-INFO")
    result = scan_directory(tmp_path)
    assert [f.relpath for f in result.files] == ["Lib/venv/__init__.py", "app.js", "lib/util.py"]
    assert rules(result, tmp_path) == {
        "lib/__pycache__": "default-ignore",
        "lib/util.pyc": "default-ignore",
        "node_modules": "default-ignore",
        "pkg.egg-info": "default-ignore",
        "venv": "default-ignore",
        "web/node_modules": "default-ignore",
    }
    assert "default-ignore" in SKIP_RULES and "node_modules/" in DEFAULT_IGNORES
    everything = scan_directory(tmp_path, default_ignores=False)
    assert len(everything.files) == 10 and everything.skipped == []


def test_an_ignore_file_re_includes_a_default_ignore(tmp_path: Path) -> None:
    write(tmp_path, ".kaguraignore", "!vendor.egg-info/\n")
    write(tmp_path, "vendor.egg-info/notes.md")
    write(tmp_path, "node_modules/x.js")
    assert [f.relpath for f in scan_directory(tmp_path).files] == ["vendor.egg-info/notes.md"]
    with pytest.raises(TypeError, match="default_ignores"):
        scan_directory(tmp_path, default_ignores="no")  # type: ignore[arg-type]
