"""``kagura store migrate SRC DST``: copy an index between stores (SQLite <-> PostgreSQL), no re-embedding."""

from __future__ import annotations

import json
import sys

import typer

from kagura.cli._app import KaguraCommand, KaguraGroup, app
from kagura.cli._params import finite
from kagura.cli._progress import ProgressLines
from kagura.cli._reading import clear_errors, store_target

__all__ = ["migrate", "store_app"]

store_app = typer.Typer(
    help="Manage stores: copy an index between SQLite and PostgreSQL.", no_args_is_help=True, cls=KaguraGroup
)
app.add_typer(store_app, name="store")


@store_app.command(cls=KaguraCommand)
def migrate(
    source: str = typer.Argument(
        ..., help="The store to copy: an SQLite file or a postgresql:// URL.", metavar="SOURCE"
    ),
    target: str = typer.Argument(..., help="The store to write into (created if missing).", metavar="TARGET"),
    as_json: bool = typer.Option(
        False, "--json", help="Print the copied count and both stores' counts as JSON."
    ),
    progress_every: float = typer.Option(
        5.0,
        "--progress-every",
        min=0.0,
        max=86400.0,
        callback=finite,
        help="Seconds between progress lines on stderr (documents copied, rate, ETA).",
    ),
) -> None:
    """Copy every document (chunks, hashes, vectors, manifest, keyword index) from SOURCE into TARGET.

    Vectors are copied as stored, so nothing is embedded again; a document already in TARGET at the same
    path is replaced. TARGET must be empty of vectors or hold vectors of the same embedder.
    """
    from kagura.core.memory.stores import copy_store, describe_target, open_rag_store, store_exists

    src, dst = store_target(source), store_target(target)
    if src == dst:
        typer.echo("SOURCE and TARGET are the same store.", err=True)
        raise typer.Exit(2)
    with clear_errors():
        if not store_exists(src):
            typer.echo(f"No store at {describe_target(src)}.", err=True)
            raise typer.Exit(2)
        a = open_rag_store(src)
        try:
            b = open_rag_store(dst)
            try:
                progress = ProgressLines(sys.stderr, progress_every, label="migrate")
                total = int(a.counts()["documents"])

                def on_document(_path: str) -> None:
                    progress(progress.state[0] + 1, total, 0)

                copied = copy_store(a, b, on_document=on_document)
                progress.finish()
                counts = {"source": a.counts(), "target": b.counts()}
            finally:
                b.close()
        finally:
            a.close()
    if as_json:
        typer.echo(json.dumps({"copied": copied, **counts}, indent=2))
    else:
        typer.echo(
            f"copied {copied} documents ({counts['source']['chunks']} chunks) from {describe_target(src)}"
            f" to {describe_target(dst)}; it now holds {counts['target']['documents']} documents"
        )
