"""Commands coerce plain values without typer's pydantic validators, and every value ends as typer's own
coercion would end it: the same Python value, or the same usage error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperCommand
from typer.testing import CliRunner

from kagura.cli._app import KaguraCommand
from kagura.cli._params import path_value

runner = CliRunner()


class _TypersOwnCoercion(KaguraCommand):
    """kagura's command (same usage line) with typer's coercion for every value: the reference."""

    def get_params(self, ctx: Any) -> list[Any]:
        return TyperCommand.get_params(self, ctx)


def _app(command_class: type[TyperCommand]) -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command(cls=command_class)
    def show(
        text: str = typer.Argument(..., metavar="TEXT"),
        count: int = typer.Option(5, "--count", min=1, max=1000),
        plain_int: int = typer.Option(3, "--plain-int"),
        ratio: float = typer.Option(10.0, "--ratio", min=0.0, max=86400.0),
        name: str | None = typer.Option(None, "--name"),
        folder: Path = typer.Option(Path("."), "--folder", parser=path_value),
        flag: bool = typer.Option(False, "--flag"),
    ) -> None:
        typer.echo(repr((text, count, plain_int, ratio, name, folder, flag)))

    @app.command(cls=command_class)
    def other() -> None:  # two commands, so `show` is a sub-command as in kagura
        pass

    return app


_ARGVS = [
    ["t"],
    ["t", "--count", "7", "--ratio", "2.5", "--name", "n", "--folder", "~/x", "--flag"],
    ["oauth \udcff"],
    [""],
    *(
        ["t", "--count", v]
        for v in ["0", "-1", "abc", "9" * 23, "5.0", " 5", "1_0", "+5", "007", "1000", "1001", ""]
    ),
    *(["t", "--plain-int", v] for v in ["-4", "0", "12", "x"]),
    *(["t", "--ratio", v] for v in ["inf", "nan", "-1", "1e3", "10", "10.", ".5", "86400.5", "x"]),
    ["t", "--folder", ""],
    ["t", "--folder", "  "],
    ["t", "--count"],
    ["t", "--bogus"],
    ["--help"],
]


@pytest.mark.parametrize("argv", _ARGVS, ids=repr)
def test_plain_values_end_as_typers_own_coercion_ends_them(argv: list[str]) -> None:
    typers = runner.invoke(_app(_TypersOwnCoercion), ["show", *argv])
    ours = runner.invoke(_app(KaguraCommand), ["show", *argv])
    assert (ours.exit_code, ours.output) == (typers.exit_code, typers.output)


_PYDANTIC_LOADED = (
    "import sys\n"
    "from kagura.cli._entry import main\n"
    "sys.argv = ['kagura', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    print('exit', exc.code)\n"
    "print('pydantic' in sys.modules)\n"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "tomatoes", "--store", "{missing}", "--top-k", "3"],
        ["budget", "--help"],
        ["store", "migrate", "--help"],
        ["run", "{missing}", "--out", "{missing}.out", "--max-concurrent", "4"],  # paths, as kagura run's
    ],
    ids=repr,
)
def test_a_kagura_process_with_plain_values_never_imports_pydantic(tmp_path: Path, argv: list[str]) -> None:
    """Importing pydantic and building its validators was about 0.14 s of every ``kagura`` process."""
    argv = [a.format(missing=tmp_path / "missing.db") for a in argv]
    done = subprocess.run(
        [sys.executable, "-c", _PYDANTIC_LOADED, *argv], capture_output=True, text=True, timeout=120
    )
    lines = done.stdout.splitlines()
    assert lines[-1] == "False", done.stdout + done.stderr[-2000:]


def test_a_bad_value_still_reaches_typers_message_in_a_process(tmp_path: Path) -> None:
    argv = ["search", "x", "--store", str(tmp_path / "s.db"), "--top-k", "0"]
    done = subprocess.run(
        [sys.executable, "-c", _PYDANTIC_LOADED, *argv], capture_output=True, text=True, timeout=120
    )
    assert "Input should be greater than or equal to 1" in done.stderr
    assert done.stdout.splitlines() == ["exit 2", "True"]
