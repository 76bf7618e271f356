"""``kagura ingest`` and ``kagura ask``: the RAG pipeline from the command line (``kagura search`` is in
:mod:`kagura.cli.search`, the store options they share in :mod:`kagura.cli._reading`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from kagura.cli._app import KaguraCommand, app
from kagura.cli._errors import fail, printable, user_errors
from kagura.cli._ingest_batch import check_via, describe_then_ingest
from kagura.cli._params import (
    MAX_TOP_K,
    finite,
    path_value,
    ray_address_problem,
    utf8_text,
)
from kagura.cli._progress import ProgressLines, run_interruptibly
from kagura.cli._reading import (
    BASE_URL_OPT,
    DEFAULT_STORE,
    MODE_OPT,
    READ_EMBEDDER_OPT,
    STORE_OPT,
    clear_errors,
    embedder_from_option,
    open_rag,
    open_reader,
    print_results,
    store_target,
)
from kagura.cli._stdout import json_stdout

__all__ = [
    "DEFAULT_STORE",
    "ask",
    "embedder_from_option",
    "ingest",
    "print_report",
    "print_results",
    "run_ingest",
    "store_target",
]

#: ``kagura ingest``'s exit codes (also in its --help and the README): 0 every file indexed (or unchanged,
#: skipped), 1 at least one file failed (the others are indexed), 2 bad arguments, 130 interrupted.
EXIT_SOME_FAILED = 1
WRITE_GRACE = 5.0
"""Seconds an interrupted ingest waits for the file being stored (it returns as soon as that is done)."""

_MODEL_OPT = typer.Option(None, "--model", help="LLM model (default: KAGURA_LLM_MODEL).")
_API_KEY_OPT = typer.Option(
    None, "--api-key", help="API key (default: KAGURA_LLM_API_KEY).", show_default=False
)
_REDIS_OPT = typer.Option(
    None,
    "--redis",
    help="Share the LLM budget and what its adaptive control learns with every process using this Redis"
    " (redis://HOST:6379/0; default: KAGURA_REDIS_URL).",
    show_default=False,
)
_OFFLINE_OPT = typer.Option(False, "--offline", help="Never call an LLM, even if one is configured.")
_EMBEDDER_OPT = typer.Option(
    "local",
    "--embedder",
    help="local (offline MiniLM), or openai[:MODEL] for an OpenAI-compatible /v1/embeddings at --base-url"
    " (default KAGURA_LLM_BASE_URL). A store keeps the embedder it was built with.",
)
_DIR_ARG = typer.Argument(
    ..., help="Folder to index.", parser=path_value, show_default=False, metavar="DIRECTORY"
)
_REDESCRIBE_OPT = typer.Option(
    False,
    "--redescribe",
    help="Describe media again when the model or prompt changed (paid LLM calls); default: keep.",
)
_PROGRESS_EVERY_OPT = typer.Option(
    10.0,
    "--progress-every",
    min=0.0,
    max=86400.0,
    callback=finite,
    help="Seconds between progress lines when output is not a terminal.",
)


def llm_from_options(
    model: str | None,
    base_url: str | None,
    offline: bool,
    api_key: str | None = None,
    redis_url: str | None = None,
) -> Any:
    """An ``LLMConfig`` if flags or ``KAGURA_LLM_BASE_URL``/``KAGURA_LLM_MODEL`` configure one, else None.

    The key comes from ``api_key`` (``--api-key``), else from the environment (``KAGURA_LLM_API_KEY``);
    ``redis_url`` (``--redis``), else ``KAGURA_REDIS_URL``, shares the endpoint's budget between processes.
    """
    if offline:
        return None
    configured = model or base_url or api_key
    if not (configured or os.environ.get("KAGURA_LLM_BASE_URL") or os.environ.get("KAGURA_LLM_MODEL")):
        return None
    from kagura.core.llm import LLMConfig

    with user_errors(api_key, misuse=True):  # a malformed flag value is the user's error, not a bug
        config = LLMConfig(
            model=model or None, base_url=base_url or None, api_key=api_key or None, redis_url=redis_url
        )
    if config.redis_url:
        check_redis(config.redis_url)
    return config


def check_redis(url: str) -> None:
    """The shared budget's Redis (``--redis`` or ``KAGURA_REDIS_URL``) answers now, or one line and exit 1
    before any work: a wrong password, nothing listening or a malformed URL never runs unthrottled."""
    from kagura.core.parallel import RateLimiter

    shared = RateLimiter(redis=url, key="kagura:cli:check").shared
    if shared is None:  # pragma: no cover - a redis= limiter always has its shared budget
        return

    async def probe() -> None:
        try:
            await shared.ensure_reachable()
        finally:
            await shared.close()

    with user_errors(misuse=True):
        asyncio.run(probe())


async def run_ingest(
    rag: Any,
    directory: Path,
    max_concurrent: int,
    console: Console | None,
    *,
    redescribe: bool = False,
    progress_every: float = 10.0,
    engine: Any = None,
    default_ignores: bool = True,
    descriptions: dict[Any, str] | None = None,
) -> Any:
    """Run ``load_directory`` with a rich progress bar on ``console`` when it is a terminal; otherwise
    (``--json``, or output piped) with a plain progress line on stderr every ``progress_every`` seconds.
    ``engine`` (an engine object; None: the local one), ``default_ignores`` and ``descriptions``: as
    ``load_directory``'s."""
    options: dict[str, Any] = {"max_concurrent": max_concurrent, "redescribe": redescribe}
    if engine is not None:
        options["engine"] = engine
    if descriptions:
        options["descriptions"] = descriptions
    if not default_ignores:
        options["default_ignores"] = False
    if console is None or not console.is_terminal:
        lines = ProgressLines(sys.stderr, progress_every, note=_rate_note(getattr(rag, "llm_client", None)))
        try:
            await rag.load_directory(directory, on_progress=lines, **options)
        finally:
            await _close_client(rag)
        lines.finish()
        return rag.last_report
    columns = (
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("ingest", total=None, failed=0)

        def on_progress(done: int, total: int | None, failed: int) -> None:
            progress.update(task, completed=done, total=total, failed=failed)

        try:
            await rag.load_directory(directory, on_progress=on_progress, **options)
        finally:
            await _close_client(rag)
    return rag.last_report


async def _close_client(rag: Any) -> None:
    """Close the run's LLM client (its connection pools; it stays usable) on the run's loop."""
    client = getattr(rag, "llm_client", None)
    if client is not None:
        await client.aclose()


def _rate_note(client: Any) -> Any:
    """For the progress line: what adaptive rate control is holding back for ``client`` (None: nothing)."""
    if client is None:
        return None
    return lambda: client.holding


def _capped_client(llm: Any, budget_usd: float | None, engine: Any) -> Any:
    """``llm`` (an LLMConfig or None) as a client under a ``--budget-usd`` spend cap (shared through the
    config's Redis when set), or ``llm`` as is without a budget; exit 2 when the cap cannot hold."""
    if budget_usd is None:
        return llm
    if llm is None:
        raise fail("--budget-usd caps LLM calls: give --model/--base-url (or drop --offline)", code=2)
    if not getattr(engine, "in_process", False):
        raise fail("--budget-usd caps the calls of this process: not yet with --engine ray", code=2)
    import hashlib

    from kagura.core.llm import LLMClient, PriceTable, SpendCap

    prices = PriceTable.from_env()
    if prices.price(llm.model_name) is None:
        raise fail(
            f"--budget-usd needs a price for {llm.model_name!r}: set KAGURA_PRICES to a JSON file "
            '({"model": {"input": USD/1M, "output": USD/1M}})',
            code=2,
        )
    key = "kagura:ingest:spend:" + hashlib.sha256(llm.model_name.encode()).hexdigest()[:24]
    cap = SpendCap(budget_usd, redis=llm.redis_url or None, key=key)
    return LLMClient(llm, prices=prices, spend_cap=cap)


def print_report(report: Any, console: Console) -> None:
    """The summary table, then every failure with its reason."""
    table = Table(title=f"Ingested {report.root}", show_header=True)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    rows = [
        ("indexed", len(report.indexed)),
        ("unchanged", len(report.unchanged)),
        ("failed", len(report.failed)),
        ("skipped", len(report.skipped)),
        ("pruned", len(report.pruned)),
        ("media not described (offline)", len(report.not_described)),
        ("descriptions kept from another model", len(report.model_changed)),
        ("LLM calls", report.llm_calls),
        ("chunks written", report.chunks_added),
        ("  of which embedded now", report.chunks_embedded),
        ("  of which reused (vector already stored)", report.chunks_reused),
    ]
    for name, count in rows:
        table.add_row(name, str(count))
    table.add_row("time", f"{report.timings.get('total', 0.0):.2f}s")
    console.print(table)
    for failure in report.failed:  # the path and reason are shown as text, never read as markup
        console.print(Text.assemble(("failed", "red"), f" {printable(str(failure.path))}: {failure.reason}"))
    if report.model_changed:
        console.print(
            f"{len(report.model_changed)} media file(s) were described by another model or prompt; their"
            " descriptions were kept. Pass --redescribe to describe them again (paid LLM calls).",
            highlight=False,
        )
    if getattr(report, "interrupted", False):
        console.print(
            "[yellow]interrupted[/yellow]: partial summary; every file listed as indexed is committed.",
            highlight=False,
        )


@app.command(cls=KaguraCommand)
def ingest(
    directory: Path = _DIR_ARG,
    store: str = STORE_OPT,
    max_concurrent: int = typer.Option(
        5, "--max-concurrent", min=1, max=1000, help="Files processed at once."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    model: str | None = _MODEL_OPT,
    base_url: str | None = BASE_URL_OPT,
    api_key: str | None = _API_KEY_OPT,
    redis: str | None = _REDIS_OPT,
    offline: bool = _OFFLINE_OPT,
    budget_usd: float | None = typer.Option(
        None,
        "--budget-usd",
        min=0.0,
        callback=finite,
        help="Hard cap in dollars on this run's LLM calls (media descriptions); needs the model's price.",
    ),
    redescribe: bool = _REDESCRIBE_OPT,
    progress_every: float = _PROGRESS_EVERY_OPT,
    embedder: str = _EMBEDDER_OPT,
    embed_rpm: float | None = typer.Option(
        None,
        "--embed-rpm",
        min=0.001,
        callback=finite,
        help="Requests per minute the embeddings endpoint allows.",
    ),
    embed_tpm: float | None = typer.Option(
        None,
        "--embed-tpm",
        min=0.001,
        callback=finite,
        help="Tokens per minute the embeddings endpoint allows.",
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local (this process) or ray (fan the changed files out over a Ray cluster; kagura[ray]).",
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to join with --engine ray (auto, host:port); default: start a local one.",
    ),
    default_ignores: bool = typer.Option(
        True,
        "--default-ignores/--no-default-ignores",
        help="Skip node_modules/, __pycache__/, *.pyc, *.egg-info/, virtual environments ..."
        " (kagura.loaders.DEFAULT_IGNORES; a !pattern in .gitignore/.kaguraignore re-includes one).",
    ),
    via: str = typer.Option(
        "online",
        "--via",
        help="How media are described: online; batch (the provider's Batch API first, half price);"
        " auto (batch while the deadline allows, then online).",
    ),
    deadline: str | None = typer.Option(
        None,
        "--deadline",
        help="With --via batch|auto: every description by then (30m, 6h, 24h; default 24h).",
    ),
) -> None:
    """Index DIRECTORY into the store (incremental: unchanged files and unchanged chunks are reused).

    Ctrl-C stops at once with a partial summary; every file already stored stays indexed.

    Exit codes: 0 every file indexed (or unchanged, or skipped), 1 some files failed (the rest are indexed;
    each failure is listed), 2 bad arguments, 130 interrupted (Ctrl-C).
    """
    if ray_address is not None and (problem := ray_address_problem(ray_address)):
        raise typer.BadParameter(problem, param_hint="--ray-address")
    chosen_engine = _engine_from_options(engine, ray_address)
    if not directory.is_dir():
        typer.echo(f"{directory} is not a directory.", err=True)
        raise typer.Exit(2)
    chosen = embedder_from_option(
        embedder, base_url, api_key, requests_per_minute=embed_rpm, tokens_per_minute=embed_tpm
    )
    llm = _capped_client(
        llm_from_options(model, base_url, offline, api_key, redis), budget_usd, chosen_engine
    )
    seconds = check_via(via, deadline, llm, chosen_engine)
    rag = open_rag(store, llm, embedder=chosen)
    console = None if as_json else Console()

    def ingest_with(descriptions: dict[Any, str] | None) -> Any:
        return run_ingest(
            rag,
            directory,
            max_concurrent,
            console,
            redescribe=redescribe,
            progress_every=progress_every,
            engine=chosen_engine,
            default_ignores=default_ignores,
            descriptions=descriptions,
        )

    job = ingest_with(None) if seconds is None else describe_then_ingest(
        rag, directory, via=via, deadline=seconds, api_key=api_key, store=store_target(store),
        redescribe=redescribe, default_ignores=default_ignores, max_concurrent=max_concurrent,
        ingest=ingest_with,
    )  # fmt: skip
    with json_stdout(as_json) as stdout:  # Ray prints dead workers' lines to stdout: not into the JSON
        try:
            with clear_errors(api_key):
                # Ctrl-C: the file being written (one transaction) gets up to WRITE_GRACE seconds to commit
                # and be reported, so the report counts exactly what the store holds.
                report, interrupted = run_interruptibly(job, grace=WRITE_GRACE)
            if interrupted:  # the engine stops what it started (a local Ray cluster) before the exit
                chosen_engine.close()
                _interrupted(rag.last_report, console, stdout)
        finally:
            _close(rag, chosen_engine)
    _print_ingest(report, console, stdout)
    if report is not None and report.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


async def _ask(rag: Any, question: str, top_k: int, mode: str) -> Any:
    """``rag.ask``, then close its LLM client on this loop."""
    try:
        return await rag.ask(question, top_k=top_k, mode=mode)
    finally:
        await _close_client(rag)


def _engine_from_options(engine: str, ray_address: str | None) -> Any:
    """The engine ``--engine``/``--ray-address`` name (``kagura.core.memory.engines.engine_for``); a bad
    combination is a usage error (exit 2)."""
    from kagura._extras import import_optional
    from kagura.errors import ConfigurationError

    try:  # (without the [rag] extra: one line naming it, as for the store)
        engines = import_optional("kagura.core.memory.engines", "kagura ingest")
        chosen, _ = engines.engine_for(engine, ray_address=ray_address)
    except ValueError as exc:
        hint = "--engine" if ray_address is None else "--engine / --ray-address"
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    except ConfigurationError as exc:  # an extra not installed (rag, ray)
        raise fail(str(exc)) from None
    return chosen


def _close(rag: Any, engine: Any) -> None:
    """Close the store and the engine (idempotent: a local Ray cluster the engine started is stopped, its
    agents and workers too, before the command exits)."""
    try:
        rag.close()
    finally:
        engine.close()


def _print_ingest(report: Any, console: Console | None, stdout: TextIO | None = None) -> None:
    if console is None:
        typer.echo(json.dumps(report.as_dict(), indent=2), file=stdout)
    else:
        print_report(report, console)


def _interrupted(report: Any, console: Console | None, stdout: TextIO | None = None) -> None:
    """Ctrl-C: print the partial summary and leave now, without waiting for worker threads still reading
    or parsing a file (what was committed is in the store; an unfinished write is rolled back)."""
    typer.echo("interrupted: stopping; files already stored stay indexed.", err=True)
    if report is not None:
        report.interrupted = True
        _print_ingest(report, console, stdout)
    (stdout or sys.stdout).flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


@app.command(cls=KaguraCommand)
def ask(
    question: str = typer.Argument(
        ..., help="The question.", callback=utf8_text, show_default=False, metavar="QUESTION"
    ),
    store: str = STORE_OPT,
    top_k: int = typer.Option(5, "--top-k", min=1, max=MAX_TOP_K, help="Passages to retrieve."),
    model: str | None = _MODEL_OPT,
    base_url: str | None = BASE_URL_OPT,
    api_key: str | None = _API_KEY_OPT,
    redis: str | None = _REDIS_OPT,
    offline: bool = _OFFLINE_OPT,
    mode: str = MODE_OPT,
    embedder: str | None = READ_EMBEDDER_OPT,
) -> None:
    """Answer QUESTION from the store with sources (LLM configured), or print the best passages (offline)."""
    llm = llm_from_options(model, base_url, offline, api_key, redis)
    rag = open_reader(store, embedder, base_url, api_key, llm)
    try:
        with clear_errors(api_key):
            answer = asyncio.run(_ask(rag, question, top_k, mode))
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    finally:
        rag.close()
    console = Console()
    if answer.text is None:
        console.print(
            "No LLM configured (set KAGURA_LLM_BASE_URL / KAGURA_LLM_MODEL or pass --model): best passages:"
        )
    else:
        console.print(answer.text, highlight=False, markup=False)
        console.print("\n[bold]Sources[/bold]")
    print_results(answer.sources, console)
