"""Every command shown in README.md and the performance guide works as written.

Each ``kagura ...`` line of a ``bash`` block and each inline ``kagura ...`` command is parsed by the real
typer application (command names, flags, their types and choices), and the cheap ones (ingest, search,
ask, route, help) are run for real, in document order, in a temporary directory. ``make`` targets, scripts
and ``python -m`` modules must exist.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.exceptions import TyperException
from typer.testing import CliRunner

from kagura.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", ROOT / "docs" / "en" / "guides" / "performance-optimization.md")
_FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`((?:\.venv/bin/)?kagura [^`]+|python -m [\w.]+[^`]*|make \w+)`")
#: Subcommands run for real (cheap and offline); the others (bench, fake-llm) are only parsed.
_RUN = {"ingest", "search", "ask", "route"}


def commands(path: Path) -> list[list[str]]:
    """The commands of ``path`` in document order: bash block lines first found, then inline spans."""
    text = path.read_text(encoding="utf-8")
    found: list[tuple[int, list[str]]] = []
    for block in _FENCE.finditer(text):
        offset = block.start(1)
        for line in block.group(1).splitlines(keepends=True):
            args = shlex.split(line, comments=True)
            while args and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", args[0]):  # VAR=value prefixes
                args = args[1:]
            if args:
                found.append((offset, args))
            offset += len(line)
    fenced = [range(b.start(), b.end()) for b in _FENCE.finditer(text)]
    for span in _INLINE.finditer(text):
        if not any(span.start() in r for r in fenced):
            found.append((span.start(), shlex.split(span.group(1))))
    found.sort(key=lambda item: item[0])
    return [_without_env([a.removeprefix(".venv/bin/") for a in args]) for _, args in found]


def _without_env(args: list[str]) -> list[str]:
    """``NAME=value cmd ...`` -> ``cmd ...`` (a variable set for one command, as the shell reads it)."""
    while len(args) > 1 and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", args[0]):
        args = args[1:]
    return args


def parse(args: list[str]) -> None:
    """Let typer's parser read ``kagura ARGS`` down to the subcommand, running nothing: unknown commands
    or flags, bad values and missing arguments raise a usage error (a ``TyperException``); ``--help``
    ends in ``typer.Exit`` with code 0."""
    group: Any = typer.main.get_command(app)
    try:
        if not args or args[0].startswith("-"):  # options of `kagura` itself (--help, --version)
            group.make_context("kagura", list(args))
            return
        command = group.commands.get(args[0])
        assert command is not None, f"no command {args[0]!r}"
        command.make_context(args[0], list(args[1:]))
    except typer.Exit as exc:
        assert exc.exit_code == 0


def test_the_docs_show_commands() -> None:
    readme, guide = (commands(path) for path in DOCS)
    assert sum(c[0] == "kagura" for c in readme) >= 10
    assert sum(c[0] == "kagura" for c in guide) >= 8
    joined = [" ".join(c) for c in readme + guide]
    assert not [c for c in joined if "[" in c and "kagura[" not in c], "placeholders are not commands"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_documented_command_parses(doc: Path) -> None:
    for args in commands(doc):
        if args[0] == "kagura":
            parse(args[1:])
        elif args[0] == "make":
            assert re.search(rf"^{re.escape(args[1])}:", (ROOT / "Makefile").read_text(), re.M), args
        elif args[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(args[2]) is not None, args
        elif args[0] == "python":
            assert (ROOT / args[1]).is_file(), args
        else:
            pytest.fail(f"{doc.name}: unexpected command {' '.join(args)}")


def test_a_placeholder_or_unknown_flag_would_be_caught() -> None:
    """The check itself: the README line that used to fail when copied, and an unknown flag."""
    with pytest.raises(TyperException):
        parse(shlex.split('search "access tokens" --store kagura.db --top-k 5 [--type image] [--json]'))
    with pytest.raises(TyperException):
        parse(["bench", "--plots-dir", "x"])
    with pytest.raises(TyperException):
        parse(["route", "hi", "--top-k", "many"])


def test_the_cheap_readme_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAGURA_LLM_BASE_URL", "KAGURA_LLM_MODEL", "KAGURA_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "src").symlink_to(ROOT / "src", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ran = []
    for args in commands(DOCS[0]):
        if args[0] != "kagura" or not (set(args) & (_RUN | {"--help"})):
            continue
        result = runner.invoke(app, args[1:])
        assert result.exit_code == 0, (args, result.output)
        ran.append(args[1])
    assert {"ingest", "search", "ask", "route", "--help"} <= set(ran)
    assert (tmp_path / "kagura.db").is_file() and (tmp_path / "memory.db").is_file()
