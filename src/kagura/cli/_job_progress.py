"""Progress of ``kagura run``: a rich bar on a terminal, else a plain line on stderr every few seconds.

Both show done/total, failed, 429s, tokens, dollars, the rate and the ETA of this run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from kagura.cli._progress import duration

__all__ = ["JobProgress", "progress_line"]


def progress_line(progress: dict[str, Any], rate_limited: int, elapsed: float) -> str:
    """``run: 1200/20000 (6%), 3 failed, 12 429s, 340k tokens, $1.23, 95.0/s, ETA 2m56s``."""
    finished_before = int(progress.get("finished_before", 0))
    total = int(progress.get("total", 0))
    done_now = int(progress["done"]) + int(progress["failed"])
    done = finished_before + done_now
    rate = done_now / elapsed if elapsed > 0 else 0.0
    parts = [f"run: {done}/{total or '?'}" + (f" ({100 * done // total}%)" if total else "")]
    parts.append(f"{progress['failed']} failed")
    parts.append(f"{rate_limited} 429s")
    tokens = int(progress["tokens"])
    parts.append(f"{tokens / 1000:.1f}k tokens" if tokens >= 1000 else f"{tokens} tokens")
    parts.append(f"${float(progress['cost_usd']):.4f}")
    parts.append(f"{rate:.1f}/s")
    left = total - done
    parts.append(f"ETA {duration(left / rate)}" if rate > 0 and total else "ETA ?")
    return ", ".join(parts)


class JobProgress:
    """An ``on_progress(job)`` callback: updates a rich bar (``console`` a terminal) or prints a line to
    stderr at most every ``interval`` seconds."""

    def __init__(self, console: Any | None, interval: float, *, clock: Callable[[], float] = time.monotonic):
        self.console, self.interval, self.clock = console, interval, clock
        self.started = self.last = clock()
        self.bar: Any = None
        self.task: Any = None
        self.printed = False

    def __enter__(self) -> JobProgress:
        if self.console is not None and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]run"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[line]}"),
                TimeElapsedColumn(), console=self.console, transient=False,
            )  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("run", total=None, line="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, job: Any) -> None:
        now = self.clock()
        line = progress_line(job.progress, job.client.rate_limited, now - self.started)
        if self.bar is not None:
            done = job.progress.get("finished_before", 0) + job.progress["done"] + job.progress["failed"]
            self.bar.update(
                self.task, completed=done, total=job.progress.get("total"), line=line.split(", ", 1)[-1]
            )
        elif now - self.last >= self.interval:
            self.last = now
            self.printed = True
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
