"""``kagura budget show``: the budgets shared through Redis and what the adaptive controllers learned."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict

import typer

from kagura.cli._app import KaguraCommand, KaguraGroup, app
from kagura.cli._errors import fail, printable

__all__ = ["budget_app", "show"]

budget_app = typer.Typer(
    help="Budgets shared through Redis (KAGURA_REDIS_URL).", no_args_is_help=True, cls=KaguraGroup
)
app.add_typer(budget_app, name="budget")


async def _read(url: str) -> list[dict[str, object]]:
    from kagura._redact import redact_text, redact_url
    from kagura.core.parallel import connect_redis, read_budgets
    from kagura.errors import ConfigurationError

    client = connect_redis(url)
    try:
        budgets = await read_budgets(client)
    except Exception as exc:
        raise ConfigurationError(f"cannot read budgets from Redis at {redact_url(url)}: {exc}") from None
    finally:
        await client.aclose()
    # a key written by an older kagura may hold a base URL's credentials: never shown
    return [{k: redact_text(v) if isinstance(v, str) else v for k, v in asdict(b).items()} for b in budgets]


@budget_app.command("show", cls=KaguraCommand)
def show(
    redis: str | None = typer.Option(
        None, "--redis", help="Redis URL (default: KAGURA_REDIS_URL).", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print every shared budget: its rates, how far ahead it is booked, its members, what was learned."""
    from kagura.errors import ConfigurationError

    url = redis or os.environ.get("KAGURA_REDIS_URL")
    if not url:
        typer.echo("error: no Redis: pass --redis redis://HOST:6379/0 or set KAGURA_REDIS_URL", err=True)
        raise typer.Exit(2)
    try:
        budgets = asyncio.run(_read(url))
    except (ConfigurationError, ValueError) as exc:
        raise fail(str(exc), code=1) from None
    if as_json:
        typer.echo(json.dumps(budgets, indent=2))
        return
    if not budgets:
        typer.echo("no shared budgets in this Redis yet")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from kagura.core.parallel.budgets._shared_gcra import MEMBER_TTL

    table = Table(expand=False)
    for column in ("key", "RPM", "TPM", "booked ahead", f"processes (last {MEMBER_TTL:g} s)", "learned"):
        table.add_column(column, overflow="fold", justify="left" if column in ("key", "learned") else "right")
    for b in budgets:
        learned = ", ".join(f"{k}={_num(v)}" for k, v in sorted(b["adaptive"].items()))  # type: ignore[union-attr]
        table.add_row(  # keys and members come from Redis: shown as text, never as markup or escapes
            Text(printable(str(b["key"]))),
            _num(b["requests_per_minute"]),
            _num(b["tokens_per_minute"]),
            f"{b['backlog_seconds']:.2f} s",
            Text(printable(str(b["members"]))),
            Text(printable(learned or "-")),
        )
    Console().print(table)


def _num(value: object) -> str:
    """A number with at most 4 significant digits (``"0.8333333"`` -> ``0.8333``); other text as is."""
    if value is None:
        return "-"
    try:
        return f"{float(value):.4g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
