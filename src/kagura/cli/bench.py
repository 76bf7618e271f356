"""``kagura bench``: measure every speed-up claim against the loopback fake LLM server."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kagura.bench._lane import cpu_seconds
from kagura.bench._report import BenchRow
from kagura.bench._runner import BENCHMARKS, resolve_names, results_as_json, run_benchmarks, write_json
from kagura.cli._app import KaguraCommand, app
from kagura.cli._errors import fail
from kagura.cli._params import finite, output_file, path_value
from kagura.errors import ServiceUnavailableError


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _verdict(row: BenchRow) -> str:
    """The pass/miss cell: whether the row met its goal (``BenchRow.goal``), "-" when it has none."""
    met = row.met
    return "-" if met is None else "[green]pass[/green]" if met else "[red]miss[/red]"


def _table(name: str, rows: list[BenchRow]) -> Table:
    table = Table(title=f"kagura bench {name}", title_justify="left")
    columns = ("operation", "items", "serial", "parallel", "improvement", "ideal", "ratio to ideal", "goal")
    for column in (*columns, "pass/miss"):
        table.add_column(
            column, justify="left" if column in ("operation", "goal") else "right", overflow="fold"
        )
    for row in rows:
        ratio = row.ratio_to_ideal
        table.add_row(
            row.operation,
            str(row.items),
            _seconds(row.serial_s),
            _seconds(row.parallel_s),
            f"{row.improvement:.0%} ({row.speedup:.1f}x)",
            _seconds(row.ideal_s),
            "-" if ratio is None else f"{ratio:.0%}",
            Text(row.goal or "-"),
            _verdict(row),
        )
    return table


_CLIENT_TABLES = {
    "quota": "kagura bench quota (naive semaphore+retry vs kagura)",
    "shared": "kagura bench shared (each process alone vs one budget in Redis)",
    "jobs": "kagura bench jobs (naive semaphore+retry script vs kagura run)",
}
_QUOTA_COLUMNS = {
    "wall_s": "wall",
    "requests": "requests",
    "http_429": "429s",
    "share_429": "429 share",
    "failed": "failed calls",
}


def _client_cell(key: str, value: Any) -> str:
    """One client's figure in its column ("" when that client's row does not measure it)."""
    if value is None:
        return ""
    if key == "wall_s":
        return f"{value:.2f} s"
    return f"{value:.2%}" if key == "share_429" else str(value)


def _clients_table(title: str, rows: list[BenchRow]) -> Table:
    """``kagura bench quota`` / ``shared``: each client's (or fleet's) numbers beside the others', one line
    per client per scenario; a row without clients (e.g. the admission cost) prints its figures."""
    table = Table(title=title, title_justify="left")
    for column in ("scenario", "client", *_QUOTA_COLUMNS.values(), "scenario metrics", "goal", "pass/miss"):
        table.add_column(
            column, justify="left" if column in ("scenario", "client") else "right", overflow="fold"
        )
    for row in rows:
        names = [k for k, v in row.extra.items() if isinstance(v, dict)]
        if not names:
            figures = ", ".join(f"{k}={v}" for k, v in row.extra.items() if k != "goal")
            blank = [""] * len(_QUOTA_COLUMNS)
            table.add_row(row.operation, "", *blank, figures, str(row.extra.get("goal", "")), _verdict(row))
            continue
        for name in names:
            data = row.extra[name]
            cells = [_client_cell(key, data.get(key)) for key in _QUOTA_COLUMNS]
            metrics = ", ".join(
                f"{k}={v}" for k, v in data.items() if k not in _QUOTA_COLUMNS and k != "calls"
            )
            first = name == names[0]
            table.add_row(
                row.operation if first else "", name, *cells, metrics, row.extra["goal"] if first else "",
                _verdict(row) if first else "",
            )  # fmt: skip
    return table


_TREE_TABLES = {
    "corpus": "kagura bench corpus (a real tree: Python's standard library)",
    "mixed": "kagura bench mixed (config files, md + html docs, Python and JavaScript)",
}


def _corpus_table(name: str, rows: list[BenchRow]) -> Table:
    """``kagura bench corpus`` / ``mixed``: one line per measure, its time and what it measured."""
    table = Table(title=_TREE_TABLES[name], title_justify="left")
    for column in ("measure", "time", "figures", "pass/miss"):
        table.add_column(column, justify="right" if column == "time" else "left", overflow="fold")
    for row in rows:
        figures = "; ".join(f"{key}={value}" for key, value in row.extra.items())
        table.add_row(row.operation, _seconds(row.parallel_s), Text(figures), _verdict(row))
    return table


def _extras(rows: list[BenchRow]) -> list[str]:
    lines = []
    for row in rows:
        if row.extra:
            details = ", ".join(f"{key}={value}" for key, value in row.extra.items())
            lines.append(f"  {row.operation}: {details}")
    return lines


#: Where ``kagura bench plot`` writes when ``--plot-dir`` is not given: a folder of the current directory
#: that no repository tracks (the guide's own figures are only replaced on purpose, with ``--plot-dir``).
DEFAULT_PLOT_DIR = Path("kagura-bench-out")
_PLOT = "plot"
#: The largest synthetic store ``--size`` accepts (its vectors alone take ~1.5 GB of memory).
MAX_STORE_SIZE = 1_000_000


_HELP = (
    "Run benchmarks serial vs parallel in the same run and print the measured ratios.\n\n"
    "With no arguments every benchmark runs at small sizes in two lanes: router with shared, quota and "
    "batch (they mostly wait) in this process while the others run one after another in a child process "
    "of their own; then overhead, embed (in a fresh process) and jobs alone: about 80 s on a quiet "
    "2-core machine (the goal: 90 s), 100-130 s on a busy one. Each benchmark prints its wall and CPU "
    "seconds, and the JSON keeps them. "
    "--full runs the sizes of the tables in docs/en/guides/performance-optimization.md (many minutes), "
    "--quick a smoke run of a few seconds each. Each row states its goal and whether it met it "
    "(pass/miss).\n\n"
    "`kagura bench plot` instead measures time vs number of calls at concurrency 1/5/10/20 and replays an "
    "RPM budget on a virtual clock, and writes both as PNG into --plot-dir (default ./kagura-bench-out; "
    "needs the `kagura[plot]` extra: pip install 'kagura[plot]')."
)


@app.command(help=_HELP, cls=KaguraCommand)
def bench(
    which: str = typer.Argument(
        "all", help=f"all | {' | '.join(BENCHMARKS)} | {_PLOT} (all: every one but ray)", metavar="WHICH"
    ),
    latency: float = typer.Option(
        0.15, "--latency", min=0.0, max=10.0, callback=finite, help="Fake LLM latency per call, in seconds."
    ),
    quick: bool = typer.Option(False, "--quick", help="Tiny sizes: a smoke run of a few seconds each."),
    full: bool = typer.Option(
        False, "--full", help="The sizes of the guide's tables (the seed's scale): several minutes."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON instead of tables."),
    out: Path | None = typer.Option(
        None, "--out", parser=path_value, help="Also write the JSON results to this file."
    ),
    plot_dir: Path = typer.Option(
        DEFAULT_PLOT_DIR, "--plot-dir", parser=path_value, help="Where `kagura bench plot` writes its PNGs."
    ),
    size: int | None = typer.Option(
        None,
        "--size",
        min=100,
        max=MAX_STORE_SIZE,
        help="`kagura bench store`: synthetic chunks (default 10,000; --full 100,000; --quick 2,000).",
    ),
) -> None:
    if quick and full:
        raise fail("choose --quick or --full, not both", code=2)
    if out is not None and (problem := output_file(out, "--out")) is not None:
        raise problem  # before minutes of measuring, not after
    if plot_dir.exists() and not plot_dir.is_dir():
        raise typer.BadParameter(f"{plot_dir} is not a directory", param_hint="--plot-dir")
    if which == _PLOT:
        _plot(latency, plot_dir)
        return
    try:
        names = resolve_names(which, also=(_PLOT,))
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    console = Console(stderr=as_json, width=None if sys.stdout.isatty() else 160)
    skipped: dict[str, str] = {}

    def skip(name: str, reason: str) -> None:
        skipped[name] = reason
        console.print(f"{name}: skipped: {reason}", style="yellow", highlight=False, markup=False)

    costs: dict[str, dict[str, Any]] = {}

    def done(name: str, cost: dict[str, Any]) -> None:
        costs[name] = cost
        together = cost.get("concurrent_with")
        cpu = f"CPU {cost['cpu_s']:.1f} s" + (f" with {', '.join(together)}" if together else "")
        cpu += f", {cost['lane']}" if cost.get("lane") else ""
        console.print(f"[dim]{name}: {_seconds(cost['wall_s'])} ({cpu})[/dim]", highlight=False)

    if size is not None and names != ["store"]:
        raise typer.BadParameter("--size applies to `kagura bench store` only")
    if size is not None:
        from kagura.bench import store as store_bench

        console.print(f"[dim]running store ({size:,} chunks)...[/dim]")
        try:
            results = {
                "store": asyncio.run(store_bench.run(latency=latency, quick=quick, size=size, full=full))
            }
        except ServiceUnavailableError as exc:
            raise fail(f"store: {exc}") from None
    else:
        started, cpu = time.perf_counter(), cpu_seconds()
        results = asyncio.run(
            run_benchmarks(
                names,
                latency=latency,
                quick=quick,
                full=full,
                on_start=lambda name: console.print(f"[dim]running {name} (latency {latency} s)...[/dim]"),
                on_skip=skip,
                on_done=done,
            )
        )
        if len(costs) > 1:
            # the whole run: this process and every process it started (the side lane's included)
            costs["all"] = {"wall_s": round(time.perf_counter() - started, 2),
                            "cpu_s": round(cpu_seconds() - cpu, 2)}  # fmt: skip
            console.print(
                f"[dim]all: {_seconds(costs['all']['wall_s'])} (CPU {costs['all']['cpu_s']:.1f} s)[/dim]"
            )
    if not results:
        raise fail("no benchmark could run: " + "; ".join(f"{n}: {r}" for n, r in skipped.items()))
    text = results_as_json(results, latency=latency, quick=quick, full=full, skipped=skipped, costs=costs)
    if out is not None:
        write_json(out, text)
        console.print(f"wrote {out}", highlight=False)
    if as_json:
        typer.echo(text)
        return
    for name, rows in results.items():
        if name in _CLIENT_TABLES:
            console.print(_clients_table(_CLIENT_TABLES[name], rows))
            continue
        if name in _TREE_TABLES:
            console.print(_corpus_table(name, rows))
            continue
        if name == "batch":
            from kagura.cli._bench_batch_table import batch_table

            console.print(batch_table(rows))
            continue
        console.print(_table(name, rows))
        for line in _extras(rows):
            console.print(line, highlight=False, markup=False)


def _plot(latency: float, plot_dir: Path) -> None:
    from kagura.bench import plots

    points = asyncio.run(plots.measure_scaling(latency))
    trace = plots.simulate_budget()
    for path in plots.render(points, trace, plot_dir, latency):
        typer.echo(f"wrote {path.resolve()}")
    for p in points:
        typer.echo(
            f"N={p.files:>3} C={p.concurrency:>2}: {p.seconds:.3f} s (ideal {p.ideal:.3f} s, "
            f"{p.ideal / p.seconds:.0%} of ideal)"
        )
    typer.echo(
        f"RPM budget {trace.requests_per_minute}: busiest 60 s window held {trace.peak_window} requests "
        f"over {len(trace.start_times)} requests"
    )
