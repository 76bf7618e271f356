"""Which module registers each ``kagura`` command, so a run imports only the one it needs.

``kagura search`` imports ``kagura.cli.search`` alone, not the ingest pipeline, the benchmark harness, the
job runner or the router (a few tenths of a second of imports that every search process used to pay), and
typer builds that one command's parameters; a bare ``kagura``, ``--help``, or a name that is not a command
loads them all, so the help lists every command (in this table's order, whichever module registers it
first) and a typo gets click's "No such command".
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence

__all__ = ["COMMAND_MODULES", "help_order", "load_commands"]

COMMAND_MODULES: dict[str, str] = {
    "bench": "kagura.cli.bench",
    "ingest": "kagura.cli.ingest",
    "search": "kagura.cli.search",
    "ask": "kagura.cli.ingest",
    "demo": "kagura.cli.demo",
    "fake-llm": "kagura.cli.fake_llm",
    "route": "kagura.cli.route",
    "run": "kagura.cli.run",
    "budget": "kagura.cli.budget",
    "store": "kagura.cli.store",
}
"""Command name -> the module whose import registers it on the app (in the order ``--help`` lists them)."""


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Import the module of the command ``argv`` names (the arguments after the program name), or every
    command module when ``argv`` is None or names none (the root takes only flags: ``--help``,
    ``--version``)."""
    name = next((arg for arg in argv or () if not arg.startswith("-")), None)
    modules = (
        [COMMAND_MODULES[name]] if argv is not None and name in COMMAND_MODULES else COMMAND_MODULES.values()
    )
    for module in dict.fromkeys(modules):
        importlib.import_module(module)


def help_order(names: Iterable[str]) -> list[str]:
    """``names`` (registered commands) in :data:`COMMAND_MODULES`' order, any other name after them."""
    rank = {name: i for i, name in enumerate(COMMAND_MODULES)}
    return sorted(names, key=lambda name: rank.get(name, len(rank)))
