"""``kagura run REQUESTS.jsonl --out RESULTS.jsonl``: a durable job of LLM requests (see :mod:`kagura.jobs`).

Exit codes: 0 every item done; 1 some failed; 2 bad input or arguments (nothing sent); 3 stopped at the
``--budget-usd`` cap; 130 interrupted. The same command again resumes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from kagura.cli._app import KaguraCommand, app
from kagura.cli._batch_setup import batch_via, run_with_batches, via_summary
from kagura.cli._errors import fail, redact
from kagura.cli._job_progress import JobProgress
from kagura.cli._job_setup import JobSetup, dry_run_estimate, setup_job
from kagura.cli._params import path_value
from kagura.cli._progress import run_interruptibly

__all__ = ["run"]

_VIA = ("online", "batch", "auto")


def _print_summary(report: Any, as_json: bool, out: Path, ledger: str, via: dict[str, Any]) -> None:
    data = {**report.to_dict(), **via}
    if as_json:
        typer.echo(json.dumps(data))
        return
    cost = "unpriced" if data["cost_usd"] is None else f"${data['cost_usd']:.4f}"
    lines = [
        f"done {report.done}, failed {report.failed}, pending {report.pending}",
        f"this run: {report.requests} requests, {report.rate_limited} rate limited (429),"
        f" {report.elapsed_s:.1f}s",
        f"tokens {report.prompt_tokens} in / {report.completion_tokens} out, cost {cost}",
        f"output: {out}   ledger: {ledger}",
    ]
    if via:
        ways = ", ".join(f"{name} {v['items']} (${v['cost_usd']:.4f})" for name, v in via["via"].items())
        again = f" ({via['rebatched']} items batched again)" if via.get("rebatched") else ""
        lines.append(f"via: {ways}; {via['batches_created']} batches created this run{again}")
    if report.stopped_at_budget:
        lines.append("stopped at the --budget-usd cap: raise it and run the same command to go on")
    if report.interrupted:
        lines.append("interrupted: partial summary; run the same command again to resume")
    elif report.failed:
        lines.append("failed items are in the output with their error; --retry-failed runs them again")
    typer.echo("\n".join(lines), err=True)


def _deadline_seconds(deadline: str | None) -> float:
    from kagura.jobs import parse_duration
    from kagura.jobs._deadline import DEFAULT_DEADLINE

    if deadline is None:
        return DEFAULT_DEADLINE
    try:
        return parse_duration(deadline)
    except ValueError as exc:
        raise fail(f"--deadline: {exc}", code=2) from None


@app.command(cls=KaguraCommand)
def run(
    requests: Path = typer.Argument(
        ...,
        metavar="REQUESTS",
        parser=path_value,
        help="JSONL requests: OpenAI Batch lines or {custom_id, prompt}.",
    ),
    out: Path = typer.Option(
        ..., "--out", parser=path_value, help="Output JSONL (OpenAI Batch output format)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Model of lines without one (default KAGURA_LLM_MODEL)."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible /v1 URL (KAGURA_LLM_BASE_URL)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="API key (default KAGURA_LLM_API_KEY).", show_default=False
    ),
    max_concurrent: int = typer.Option(64, "--max-concurrent", min=1, help="Calls in flight at most."),
    rpm: float | None = typer.Option(None, "--rpm", min=1, help="Requests per minute (else learned)."),
    tpm: float | None = typer.Option(None, "--tpm", min=1, help="Tokens per minute (else learned)."),
    redis: str | None = typer.Option(
        None, "--redis", help="Share rate and dollar budgets through this Redis.", show_default=False
    ),
    ledger: str | None = typer.Option(
        None, "--ledger", help="SQLite path or postgresql:// URL (default OUT.ledger.db)."
    ),
    budget_usd: float | None = typer.Option(None, "--budget-usd", min=0.0, help="Hard cap in dollars."),
    prices: Path | None = typer.Option(
        None,
        "--prices",
        parser=path_value,
        help='JSON {"model": {"input", "cached_input", "output"}} USD/1M tokens.',
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed items again."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check the input and estimate tokens, cost, time; send nothing."
    ),
    schema: Path | None = typer.Option(
        None, "--schema", parser=path_value, help="JSON Schema every answer must match."
    ),
    via: str = typer.Option(
        "online",
        "--via",
        help="online; batch (the provider's Batch API, half price); auto (batch while the"
        " deadline allows, then online).",
    ),
    deadline: str | None = typer.Option(
        None, "--deadline", help="With --via batch|auto: every item by then (30m, 6h, 24h; default 24h)."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="Requests per batch at most (default the provider's limit)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
    progress_every: float = typer.Option(
        10.0, "--progress-every", min=0.0, help="Seconds between progress lines off a terminal."
    ),
) -> None:
    """Run every request of REQUESTS.jsonl once, durably: resumable, capped in dollars, shared by workers."""
    if via not in _VIA:
        raise fail(f"--via must be one of {', '.join(_VIA)}, got {via!r}", code=2)
    if via == "online" and (deadline is not None or batch_size is not None):
        raise fail("--deadline and --batch-size apply to --via batch or auto only", code=2)
    seconds = _deadline_seconds(deadline)
    setup: JobSetup = setup_job(
        requests, out, model=model, base_url=base_url, api_key=api_key, rpm=rpm, tpm=tpm, redis=redis,
        ledger=ledger, budget_usd=budget_usd, prices=prices, schema=schema, max_concurrent=max_concurrent,
    )  # fmt: skip
    if dry_run:
        plan = None if via == "online" else batch_via(setup, via, seconds, batch_size, api_key)
        estimate = dry_run_estimate(setup, requests, plan)
        typer.echo(json.dumps(estimate) if as_json else "\n".join(f"{k}: {v}" for k, v in estimate.items()))
        return
    console = None if as_json else Console(stderr=True)
    with JobProgress(console, progress_every) as progress:
        job = setup.job(requests, out, retry_failed=retry_failed, on_progress=progress)
        if via != "online":
            job.batch = batch_via(setup, via, seconds, batch_size, api_key)
        _, interrupted = run_interruptibly(run_with_batches(setup, job))
    if setup.error is not None:
        if getattr(setup.error, "problems", ()):  # one line per problem, as the input's lines are numbered
            typer.echo("error: " + redact(str(setup.error), api_key), err=True)
            raise typer.Exit(setup.error_code)
        raise fail(str(setup.error), api_key, code=setup.error_code)
    report = job.report
    if report is None:  # interrupted before the ledger opened
        typer.echo("interrupted before anything was sent", err=True)
        raise typer.Exit(130)
    if interrupted and not report.interrupted:
        report = dataclasses.replace(report, interrupted=True)
    _print_summary(report, as_json, out, setup.ledger_shown, via_summary(setup, job))
    sys.stdout.flush()
    raise typer.Exit(130 if interrupted else report.exit_code)
