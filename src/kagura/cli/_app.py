"""The typer application every command module registers on."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

import kagura
from kagura.cli._boundary import BoundaryGroup
from kagura.cli._coercion import coerce_plain_values


class KaguraCommand(TyperCommand):
    """A command whose usage line names its arguments as ``QUERY``/``[WHICH]``, not typer's ``{QUERY}``,
    and whose plain values skip typer's pydantic validators (:mod:`kagura.cli._coercion`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # the command's own, and --help
        coerce_plain_values(params)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class KaguraGroup(TyperGroup):
    """A group of sub-commands (``kagura budget``, ``kagura store``) whose ``--help`` skips typer's pydantic
    validators too (:mod:`kagura.cli._coercion`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        coerce_plain_values(params)
        return params


app = typer.Typer(
    name="kagura",
    help="Run many LLM calls concurrently: scheduler, LLM layer, routing and multimodal RAG.",
    no_args_is_help=True,
    add_completion=False,
    cls=BoundaryGroup,  # every command runs inside the one error boundary
    rich_markup_mode=None,
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
