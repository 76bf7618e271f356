"""``kagura search``: the store's best passages for a query, one per file by default.

Its own module, importing only :mod:`kagura.cli._reading` besides the app, so a search process neither
imports the ingest command's progress bars and LLM layer nor builds the other commands' parameters.
"""

from __future__ import annotations

import asyncio
import json

import typer

from kagura.cli._app import KaguraCommand, app
from kagura.cli._errors import fail
from kagura.cli._params import MAX_TOP_K, utf8_text
from kagura.cli._reading import (
    BASE_URL_OPT,
    MODE_OPT,
    READ_EMBEDDER_OPT,
    STORE_OPT,
    clear_errors,
    open_reader,
    print_results,
)

__all__ = ["search"]


@app.command(cls=KaguraCommand)
def search(
    query: str = typer.Argument(
        ..., help="What to look for.", callback=utf8_text, show_default=False, metavar="QUERY"
    ),
    store: str = STORE_OPT,
    top_k: int = typer.Option(5, "--top-k", min=1, max=MAX_TOP_K, help="How many results."),
    file_type: str | None = typer.Option(
        None, "--type", help="Only this file type (markdown, pdf, image, ...)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    mode: str = MODE_OPT,
    embedder: str | None = READ_EMBEDDER_OPT,
    base_url: str | None = BASE_URL_OPT,
    all_chunks: bool = typer.Option(
        False,
        "--all-chunks",
        help="Every matching passage, several of one file included (default: the best passage of each file,"
        " and one copy of a page present as both Markdown and HTML).",
    ),
) -> None:
    """Search the store for QUERY; prints the best passage of each file with its source and score.

    Scores: hybrid (default) 0-1 relevance (1 = first by both keyword and vector search); vector: cosine
    similarity; keyword: BM25 (higher is better).
    """
    rag = open_reader(store, embedder, base_url)
    try:
        with clear_errors():
            job = rag.query(query, top_k=top_k, file_type=file_type, mode=mode, per_file=not all_chunks)  # type: ignore[arg-type]
            results = asyncio.run(job)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    finally:
        rag.close()
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        from rich.console import Console  # not needed for --json (a script's output)

        print_results(results, Console())
