"""Pattern matching on its own: a table of git's verdicts, the two matching engines agree, no blow-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gitignore_fuzz import git, init_repo
from hypothesis import given, settings
from hypothesis import strategies as st

from kagura.loaders._ignore import IgnorePattern
from kagura.loaders._wildmatch import Wildmatch

# (ignore-file line, path relative to that file, ignored?): each row is also checked against git itself.
TABLE = [
    (b"*", b"a/b", True),
    (b"**", b"a/b", True),
    (b"a/**", b"a", False),
    (b"a/**", b"a/b/c", True),
    (b"**/b", b"b", True),
    (b"**/b", b"a/x/b", True),
    (b"a/**/b", b"a/b", True),
    (b"a/**/b", b"a/x/y/b", True),
    (b"a/**\\/b", b"a/b", False),
    (b"a/**\\/b", b"a/x/b", True),
    (b"a**/b", b"ax/y/b", True),
    (b"x/a**/b", b"x/ax/y/b", True),
    (b"x/*a**/b", b"x/ax/y/b", False),
    (b"a/***/b", b"a/b", True),
    (b"x/?", b"x/y", True),
    (b"x[/]y", b"x/y", False),
    (b"[]a]", b"]", True),
    (b"[!]a]", b"b", True),
    (b"[a-]", b"-", True),
    (b"[z-a]", b"z", True),
    (b"[z-a]", b"m", False),
    (b"[a-c-e]", b"-", True),
    (b"[a-c-e]", b"d", False),
    (b"[\\]]", b"]", True),
    (b"[[:digit:]x]", b"x", True),
    (b"[[:bogus:]]", b"b", False),
    (b"[[:]", b"[", True),
    (b"[[:]", b":", True),
    (b"[", b"[", False),
    (b"a\\", b"a\\", False),
    (b"\\*", b"*", True),
    (b"\\*", b"x", False),
    (b"caf?", b"caf\xc3\xa9", False),
    (b"caf??", b"caf\xc3\xa9", True),
    (b"caf\xe9", b"caf\xe9", True),
    (b"[\x80-\xff]", b"\xe9", True),
    (b"[^a]", b"b", True),
    (b"[a-\\c]", b"b", True),
    (b"[\\a-c]", b"b", True),
    (b"*.txt", b"d/x.txt", True),
    (b"/x", b"d/x", False),
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_verdicts_agree_with_git(tmp_path: Path) -> None:
    init_repo(tmp_path)
    for i, (line, _text, _expected) in enumerate(TABLE):
        (tmp_path / f"r{i}").mkdir()
        (tmp_path / f"r{i}" / ".gitignore").write_bytes(line + b"\n")
    paths = [f"r{i}/".encode() + text for i, (_, text, _) in enumerate(TABLE)]
    out = git(tmp_path, "check-ignore", "--no-index", "--stdin", "-z", stdin=b"\0".join(paths) + b"\0")
    ignored = set(out.split(b"\0"))
    assert [p in ignored for p in paths] == [expected for _, _, expected in TABLE]


@pytest.mark.parametrize(("line", "text", "expected"), TABLE)
def test_verdicts(line: bytes, text: bytes, expected: bool) -> None:
    pattern = IgnorePattern.parse(line)
    assert pattern.matches(text, is_dir=False) is expected
    local = text if pattern.basename is False else text.rsplit(b"/", 1)[-1]
    assert pattern.glob.matches_by_automaton(local) is expected


def test_literal_prefix_is_split_like_git_for_pathname_patterns() -> None:
    # Git compares the literal run before the first wildcard on its own, so "**" right after it counts
    # as standing at the start: "foo**/bar" then spans directories.
    assert Wildmatch(b"foo**/bar", split_prefix=True).matches(b"fooX/Y/bar")
    assert not Wildmatch(b"foo**/bar").matches(b"fooX/Y/bar")


def test_many_stars_do_not_backtrack_exponentially() -> None:
    glob = Wildmatch(b"*a*a*a*a*a*a*a*a*a*a*a*b")  # a backtracking regex takes ~C(200, 12) steps here
    assert not glob.matches(b"a" * 200)
    assert glob.matches(b"a" * 200 + b"b")
    deep = Wildmatch(b"**/a/**/a/**/a/**/a/**/b")
    assert not deep.matches(b"a/" * 300 + b"c")


def test_patterns_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        Wildmatch("*.txt")  # type: ignore[arg-type]


_PATTERN_BYTES = st.sampled_from(
    [b"*", b"**", b"?", b"/", b"a", b"b", b"[", b"]", b"!", b"-", b"\\", b":", b"\xe9"]
)
_TEXT_BYTES = st.sampled_from([b"a", b"b", b"/", b"-", b"]", b"\xe9", b"*"])


@settings(max_examples=200, deadline=None)
@given(
    pattern=st.lists(_PATTERN_BYTES, max_size=10).map(b"".join),
    text=st.lists(_TEXT_BYTES, max_size=10).map(b"".join),
    split=st.booleans(),
)
def test_regex_and_automaton_agree(pattern: bytes, text: bytes, split: bool) -> None:
    glob = Wildmatch(pattern, split_prefix=split)
    assert glob.matches(text) == glob.matches_by_automaton(text)
