"""The typer application every command module registers on."""

from __future__ import annotations

import typer

import kagura
from kagura.cli._boundary import BoundaryGroup

app = typer.Typer(
    name="kagura",
    help="Run many LLM calls concurrently: scheduler, LLM layer, routing and multimodal RAG.",
    no_args_is_help=True,
    add_completion=False,
    cls=BoundaryGroup,  # every command runs inside the one error boundary
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kagura {kagura.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """kagura: concurrent LLM calls for agent pipelines."""
