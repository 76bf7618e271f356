"""The ``kagura`` typer app with every command registered (what tests and ``CliRunner`` import)."""

from __future__ import annotations

from kagura.cli._app import app
from kagura.cli._commands import load_commands

load_commands()


def main() -> None:
    app()


__all__ = ["app", "main"]
