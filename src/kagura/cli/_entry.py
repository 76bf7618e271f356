"""The ``kagura`` console script's entry point: checks the ``[cli]`` extra, then runs the typer app.

Kept free of third-party imports so a core install (``pip install kagura``) that runs ``kagura`` reads one
line naming the extra instead of a traceback. A feature reached from a command whose own extra is missing
(``kagura ingest`` without ``[rag]``, ``kagura fake-llm`` without ``[testing]``) ends the same way.
"""

from __future__ import annotations

import sys

from kagura._extras import import_optional
from kagura.errors import MissingExtraError

__all__ = ["main"]


def main() -> None:
    """Run the ``kagura`` command line."""
    try:
        import_optional("typer", "the kagura command line")
        import_optional("rich", "the kagura command line")
        from kagura.cli._app import app
        from kagura.cli._commands import load_commands

        load_commands(sys.argv[1:])  # only the module of the command being run (all for --help)
        app()
    except MissingExtraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
