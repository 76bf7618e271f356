"""``kagura demo``: the main job on the offline default."""

from __future__ import annotations

import typer

from kagura.cli._app import app


@app.command()
def demo() -> None:
    """Run the offline demo."""
    typer.echo("kagura demo: nothing to show yet")
