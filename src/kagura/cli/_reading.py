"""What ``kagura search`` and ``kagura ask`` share, and ``kagura ingest`` and ``kagura store`` reuse: the
``--store`` option and opening a store to read, the embedder options, and printing results.

Kept light (no progress bars, no tables, no LLM layer) for the ``kagura search`` process, which imports
this module and :mod:`kagura.cli.search` alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kagura.cli._errors import fail, user_errors

if TYPE_CHECKING:  # rich is imported by the commands that print with it (not by `kagura search --json`)
    from rich.console import Console

__all__ = [
    "BASE_URL_OPT",
    "DEFAULT_STORE",
    "MODE_OPT",
    "READ_EMBEDDER_OPT",
    "STORE_OPT",
    "clear_errors",
    "embedder_from_option",
    "open_rag",
    "open_reader",
    "print_results",
    "store_target",
]

DEFAULT_STORE = Path(".kagura") / "kagura.db"
LOCAL_MODEL = "all-MiniLM-L6-v2"
"""Ids of the local embedder's vectors start with this (``all-MiniLM-L6-v2``, ``...+onnx-int8``)."""

STORE_OPT = typer.Option(
    str(DEFAULT_STORE),
    "--store",
    help="SQLite store file, or a postgresql://user@host/db URL (kagura[postgres]).",
)
BASE_URL_OPT = typer.Option(
    None, "--base-url", help="OpenAI-compatible /v1 URL (default: KAGURA_LLM_BASE_URL)."
)
READ_EMBEDDER_OPT = typer.Option(
    None,
    "--embedder",
    help="local (offline MiniLM), or openai[:MODEL] at --base-url (default KAGURA_LLM_BASE_URL); default: the"
    " embedder the store was built with.",
    show_default=False,
)
MODE_OPT = typer.Option("hybrid", "--mode", help="hybrid (keywords + vectors, default) | vector | keyword.")


def embedder_from_option(
    spec: str,
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
) -> Any:
    """The embedder ``--embedder`` names: None for ``local`` (the default MiniLM, loaded on first use), an
    ``OpenAIEmbedder`` for ``openai`` / ``openai:MODEL``. Raises ``typer.BadParameter`` for anything else."""
    name, _, model = spec.partition(":")
    if name in ("local", "local-minilm") and not model:
        return None
    if name != "openai":
        raise typer.BadParameter(
            f"unknown embedder {spec!r}: use local or openai[:MODEL]", param_hint="--embedder"
        )
    from kagura.core.memory import OpenAIEmbedder

    with clear_errors(api_key):
        return OpenAIEmbedder(
            model or "text-embedding-3-small",
            base_url=base_url,
            api_key=api_key,
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
        )


def store_target(store: str) -> str | Path:
    """``--store`` as a PostgreSQL URL or a file path; an empty or malformed value is a usage error."""
    from kagura.core.memory.stores import check_target, target_problem

    if not store.strip():
        raise fail("--store is empty: name an SQLite file or a postgresql:// URL", code=2)
    problem = target_problem(store)
    if problem is not None:
        raise fail(f"--store: {problem}", code=2)
    return check_target(os.path.expanduser(store), "--store")


def open_reader(
    store: str, embedder: str | None, base_url: str | None, api_key: str | None = None, llm: Any = None
) -> Any:
    """The store for ``search``/``ask``: with ``--embedder``, that one; without, the embedder the store's
    vectors were made by (a remote model by name at ``--base-url``, or the local one)."""
    if embedder is not None:
        return open_rag(
            store, llm, must_exist=True, embedder=embedder_from_option(embedder, base_url, api_key)
        )
    rag = open_rag(store, llm, must_exist=True)
    with clear_errors():
        recorded = rag.store.embedder()
    if recorded is None or recorded.startswith(LOCAL_MODEL):
        return rag
    rag.close()
    return open_rag(
        store, llm, must_exist=True, embedder=embedder_from_option(f"openai:{recorded}", base_url, api_key)
    )


def open_rag(store: str, llm: Any = None, *, must_exist: bool = False, embedder: Any = None) -> Any:
    from kagura.core.memory.stores import describe_target, store_exists

    target = store_target(store)
    if must_exist:  # a read never creates a store (an SQLite file, or kagura's tables in a database)
        with clear_errors():
            exists = store_exists(target)
        if not exists:
            shown = describe_target(target)
            typer.echo(f"No store at {shown}: run `kagura ingest DIR --store {shown}` first.", err=True)
            raise typer.Exit(2)
    from kagura.core.memory import MultimodalRAG

    options: dict[str, Any] = {}
    if embedder is not None:  # remote: enough chunks per call to keep its batches in flight together
        options["embed_batch_size"] = embedder.batch_size * embedder.max_concurrent
    with clear_errors():
        return MultimodalRAG(target, llm=llm, embedder=embedder, **options)


def clear_errors(*secrets: str | None) -> contextlib.AbstractContextManager[None]:
    """Kagura's intentional errors (bad store, missing weights, LLM refusal) -> one line, exit 1."""
    return user_errors(*secrets)


def print_results(results: Sequence[Any], console: Console) -> None:
    """Each result: rank, score, source, and the passage (shortened)."""
    if not results:
        console.print("no results")
    for rank, r in enumerate(results, start=1):
        text = " ".join(r.text.split())
        text = text if len(text) <= 300 else text[:297] + "..."
        console.print(
            f"[bold]{rank}.[/bold] {r.score:.2f}  [cyan]{r.source()}[/cyan] ({r.file_type})", highlight=False
        )
        console.print(f"   {text}", highlight=False, markup=False)
