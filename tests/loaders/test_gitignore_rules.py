"""Each way the scanner's ignore rules used to differ from git, checked against an expected list and git.

Every test states the files git keeps and asserts that both ``git ls-files --others --exclude-standard``
and ``scan_directory`` keep exactly those.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from gitignore_fuzz import git, git_kept, init_repo, kagura_kept, scratch_dir, write_tree

from kagura.loaders import scan_directory

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def agree(root: Path, files: list[bytes], ignores: dict[bytes, bytes], expected: list[bytes]) -> None:
    """Build the tree in a fresh repository; git and the scan must both keep exactly ``expected``."""
    if not (root / ".git").exists():
        init_repo(root)
    write_tree(root, files, ignores)
    assert sorted(git_kept(root)) == sorted(expected), "the test's expectation disagrees with git"
    assert sorted(kagura_kept(root)) == sorted(expected)


def test_malformed_lines_are_skipped_and_the_rest_still_applies(tmp_path: Path) -> None:
    # "[z-a]" is an empty range, but its first end is a member on its own, so it still matches "z".
    gitignore = b"!\n\\\nfoo\\\n[z-a]\n[[:bogus:]]\n[unclosed\n*.log\n!keep.log\n\\ \\ \n"
    files = [b"a.log", b"keep.log", b"foo", b"foo\\", b"z", b"a.txt", b"[unclosed", b"  ", b" "]
    agree(tmp_path, files, {b"": gitignore}, [b"keep.log", b"foo", b"foo\\", b"a.txt", b"[unclosed", b" "])


def test_dir_double_star_ignores_the_contents_not_the_directory(tmp_path: Path) -> None:
    files = [b"data/README.md", b"data/x.csv", b"data/sub/README.md", b"other.txt"]
    agree(tmp_path, files, {b"": b"data/**\n!data/README.md\n"}, [b"data/README.md", b"other.txt"])


def test_lines_end_at_newline_only_and_crlf_is_handled(tmp_path: Path) -> None:
    separators = [b"\r", b"\x0b", b"\x0c", b"\x1c", "\x85".encode(), "\u2028".encode()]
    weird = [b"a.txt" + sep + b"b.txt" for sep in separators]
    gitignore = b"\n".join(weird) + b"\n*.log\r\n!keep.log\r\n"
    files = [b"a.txt", b"b.txt", b"x.log", b"keep.log", *weird]
    agree(tmp_path, files, {b"": gitignore}, [b"a.txt", b"b.txt", b"keep.log"])


def test_a_nul_byte_ends_its_line(tmp_path: Path) -> None:
    # Git reads each line as a C string: "foo\0bar" is the pattern "foo", "x \0" is "x " (then trimmed).
    agree(tmp_path, [b"foo", b"foobar", b"x", b"y"], {b"": b"foo\0bar\nx \0\n\0y\n"}, [b"foobar", b"y"])


def test_a_utf8_bom_is_not_part_of_the_first_pattern(tmp_path: Path) -> None:
    agree(tmp_path, [b"x.log", b"y.txt"], {b"": b"\xef\xbb\xbf*.log\n"}, [b"y.txt"])


def test_posix_character_classes(tmp_path: Path) -> None:
    gitignore = b"file[[:digit:]].txt\n[[:upper:]]*\nv[[:alpha:][:digit:]]\nw[![:alnum:]]\nsp[[:space:]]x\n"
    files = [b"file1.txt", b"filea.txt", b"Abc", b"abc", b"va", b"v1", b"v-", b"w-", b"wa", b"sp x", b"spax"]
    agree(tmp_path, files, {b"": gitignore}, [b"filea.txt", b"abc", b"v-", b"wa", b"spax"])


def test_posix_classes_agree_with_git_on_every_byte() -> None:
    names = [b"x" + bytes([b]) for b in range(1, 256) if b != ord("/")]
    classes = [b"alnum", b"alpha", b"blank", b"cntrl", b"digit", b"graph", b"lower", b"print", b"punct",
               b"space", b"upper", b"xdigit"]  # fmt: skip
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:  # 3,000 tiny files: RAM if possible
        root = Path(tmp)
        init_repo(root)
        files = [name + b"/" + n for name in classes for n in names]
        write_tree(root, files, {name: b"x[[:" + name + b":]]\n" for name in classes})
        got, expected = kagura_kept(root), git_kept(root)
        for name in classes:
            assert {p for p in got if p.startswith(name + b"/")} == {
                p for p in expected if p.startswith(name + b"/")
            }
        assert 0 < len(expected) < len(files)


def test_trailing_spaces_trimmed_unless_escaped_tabs_kept(tmp_path: Path) -> None:
    gitignore = b"foo\\ \nbar  \ntab\t\nsp \\ \ntwo\\ \\ \n"
    files = [b"foo", b"foo ", b"bar", b"bar ", b"tab", b"tab\t", b"sp", b"sp  ", b"two", b"two  "]
    agree(tmp_path, files, {b"": gitignore}, [b"foo", b"bar ", b"tab", b"sp", b"two"])


def test_triple_star_and_double_star_forms(tmp_path: Path) -> None:
    gitignore = b"a/***/b\n***.log\nc/**\\/d\nfoo**/bar\nx**y\n"
    files = [b"a/b", b"a/x/y/b", b"q.log", b"c/d", b"c/x/d", b"foo/bar", b"fooX/Y/bar", b"xy", b"x/y", b"xzy"]
    agree(tmp_path, files, {b"": gitignore}, [b"c/d", b"x/y"])


def test_non_ascii_names_match_byte_wise(tmp_path: Path) -> None:
    cafe = "caf\u00e9".encode()  # the é is two bytes: one "?" or one "[é]" matches only one of them
    gitignore = b"caf?\n" + "caf[\u00e9]\n".encode() + b"n?\n" + b"caf\xe9x\n" + b"t[\x80-\xff][\x80-\xff]\n"
    files = [cafe, b"caf\xe9x", b"n\xff", b"caf\xe9", "t\u00e9".encode(), "n\u00e9".encode()]
    agree(tmp_path, files, {b"": gitignore}, [cafe, "n\u00e9".encode()])
    assert os.fsencode(scan_directory(tmp_path).files[0].relpath) == cafe


def test_core_ignorecase_off_matching_is_case_sensitive(tmp_path: Path) -> None:
    agree(
        tmp_path,
        [b"x.LOG", b"x.log", b"Build/a", b"build/a"],
        {b"": b"*.log\nBuild/\n"},
        [b"x.LOG", b"build/a"],
    )


def test_git_info_exclude_is_read_when_the_root_is_a_work_tree(tmp_path: Path) -> None:
    init_repo(tmp_path)
    (tmp_path / ".git" / "info").mkdir(exist_ok=True)
    (tmp_path / ".git" / "info" / "exclude").write_bytes(b"*.secret\n!keep.log\n")
    # .gitignore files win over info/exclude, whatever their depth.
    agree(tmp_path, [b"a.secret", b"b.txt", b"x.log", b"keep.log"], {b"": b"*.log\n"}, [b"b.txt"])


def test_a_linked_worktree_reads_the_main_repository_exclude_file(tmp_path: Path) -> None:
    main, linked = tmp_path / "main", tmp_path / "linked"
    main.mkdir()
    init_repo(main)
    (main / "tracked.txt").write_text("x")
    git(main, "add", "tracked.txt")
    git(main, "commit", "-q", "-m", "init")
    git(main, "worktree", "add", "-q", str(linked))
    (main / ".git" / "info").mkdir(exist_ok=True)
    (main / ".git" / "info" / "exclude").write_bytes(b"*.secret\n")
    agree(linked, [b"a.secret", b"b.txt"], {}, [b"b.txt", b"tracked.txt"])


def test_nothing_is_re_included_below_an_excluded_directory(tmp_path: Path) -> None:
    gitignore = b"/build\n!build/keep.txt\nlogs/*\n!logs/keep.txt\n"
    files = [b"build/keep.txt", b"logs/keep.txt", b"logs/drop.txt", b"a/build/b.txt"]
    agree(tmp_path, files, {b"": gitignore}, [b"logs/keep.txt", b"a/build/b.txt"])


def test_symlinks_are_not_directories_and_symlinked_gitignore_is_not_read(tmp_path: Path) -> None:
    init_repo(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f.txt").write_text("x")
    (tmp_path / "real" / "rules").write_text("*.txt\n")
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "t.txt").write_text("x")
    (tmp_path / "sub" / ".gitignore").symlink_to("../real/rules")
    (tmp_path / ".gitignore").write_text("alias/\n")
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "alias" in listed and "sub/t.txt" in listed  # git: a symlink is no "dir/"; the link is not read
    result = scan_directory(tmp_path)
    assert [f.relpath for f in result.files] == ["real/f.txt", "real/rules", "sub/t.txt"]
    assert {s.rule for s in result.skipped if s.path.endswith("alias")} == {"already-scanned"}
