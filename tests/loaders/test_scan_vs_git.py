"""The scan's ignore decisions agree with git itself (``git ls-files --others --exclude-standard``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kagura.loaders import scan_directory

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

TREE = """
a.log keep.log t.tmp top-only.txt temporary.txt #hash.txt notes.txt
sub/keep.log sub/x.log sub/only-here.txt sub/readme.md sub/deeper/only-here.txt sub/deeper/x.tmp
build/out.txt build/gen.py sub/build/y.txt sub/build/gen.py
docs/draft-1.md docs/x/draft-2.md docs/x/final.md docs/guide.md
cache/c.txt deep/er/cache/d.txt deep/er/cached.txt
important/i.tmp important/ok.txt temp1/a.txt
a/z.txt a/b/c/z.txt a/b/y.txt
src/app.py src/notes.txt src/lib/mod.py src/lib/data.bin
""".split()

CASES = {
    "patterns": (
        "*.log\n!keep.log\nbuild/\n/top-only.txt\ndocs/**/draft-*.md\n**/cache\n*.tmp\n!important/\n"
        "temp*/\na/**/z.txt\n\\#hash.txt\n# a comment\n\n",
        "!*.log\n/only-here.txt\n!build/\n*.md\n",
    ),
    "whitelist": ("*\n!*/\n!*.py\n!*.md\nbuild/\n", "!build/\n!*.txt\n"),
    "directory-negation": ("src/lib/\n!src/lib/mod.py\n*.txt\n!important/*.txt\n", "*\n!deeper/\n"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_files_as_git(tmp_path: Path, case: str) -> None:
    root_rules, sub_rules = CASES[case]
    for rel in TREE:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".gitignore").write_text(root_rules)
    (tmp_path / "sub" / ".gitignore").write_text(sub_rules)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "--others", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    expected = sorted(p for p in listed if p and not any(part.startswith(".") for part in p.split("/")))
    assert 0 < len(expected) < len(TREE)  # the rules keep some files and drop others
    assert [f.relpath for f in scan_directory(tmp_path, default_ignores=False).files] == expected
