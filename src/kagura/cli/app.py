"""Entry point of the ``kagura`` console script: imports every command module, then runs the app."""

from __future__ import annotations

from kagura.cli import bench, budget, demo, fake_llm, ingest, route, run, store  # noqa: F401  (registers their commands)
from kagura.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
