"""``kagura bench batch``'s table: per way of running (online, batch, auto at each deadline), its time, cost
and where the items went."""

from __future__ import annotations

from rich.table import Table

from kagura.bench._report import BenchRow

__all__ = ["batch_table"]


def batch_table(rows: list[BenchRow]) -> Table:
    table = Table(title="kagura bench batch (kagura run --via online | batch | auto)", title_justify="left")
    columns = ("run", "deadline", "done in", "cost", "vs online", "via batch", "via online", "online calls",
               "by deadline")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "run" else "right", overflow="fold")
    for row in rows:
        x = row.extra
        deadline = "-" if x["deadline_s"] is None else f"{x['deadline_s']:g} s"
        met = "-" if x["by_deadline"] is None else "yes" if x["by_deadline"] else "NO"
        share = "-" if x["cost_vs_online"] is None else f"{x['cost_vs_online']:.0%}"
        table.add_row(
            row.operation, deadline, f"{x['wall_s']:.1f} s", f"${x['cost_usd']:.6f}", share,
            str(x["via_batch"]), str(x["via_online"]), str(x["online_calls"]), met,
        )  # fmt: skip
    return table
