"""Progress and interruption for long CLI runs.

:class:`ProgressLines`: when the output is not a terminal (CI logs, ``| tee``, nohup), a progress bar
shows nothing until the end; this prints one plain line to stderr every ``interval`` seconds instead:
files done/total, failures, rate and ETA.

:func:`run_interruptibly`: run a coroutine so that Ctrl-C (SIGINT) cancels it at once and hands control
back (the caller prints what was done); worker threads still busy are not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any, TextIO, TypeVar

__all__ = ["ProgressLines", "duration", "run_interruptibly"]

T = TypeVar("T")


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressLines:
    """An ``on_progress(done, total, failed)`` callback printing a line at most every ``interval`` seconds.

    ``clock`` (seconds, monotonic) is injectable for tests. :meth:`finish` prints the last line if any
    line was printed (a run shorter than ``interval`` stays silent: its summary follows at once).
    """

    def __init__(
        self, stream: TextIO, interval: float = 10.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0 seconds, got {interval!r}")
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_print = self.started
        self.state: tuple[int, int | None, int] = (0, None, 0)
        self.printed = 0

    def __call__(self, done: int, total: int | None, failed: int) -> None:
        self.state = (done, total, failed)
        now = self.clock()
        if now - self.last_print >= self.interval:
            self.last_print = now
            self._write(self.line(now))

    def line(self, now: float | None = None) -> str:
        """``ingest: 120/2000 files (6%), 3 failed, 45.2 files/s, ETA 41s``."""
        done, total, failed = self.state
        elapsed = (self.clock() if now is None else now) - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"ingest: {done}/{total if total is not None else '?'} files"]
        if total:
            parts[0] += f" ({100 * done // total}%)"
        parts.append(f"{failed} failed")
        parts.append(f"{rate:.1f} files/s")
        if total is not None and rate > 0:
            parts.append(f"ETA {duration((total - done) / rate)}")
        else:
            parts.append("ETA ?")
        parts.append(f"elapsed {duration(elapsed)}")
        return ", ".join(parts)

    def finish(self) -> None:
        if self.printed:
            self._write(self.line())

    def _write(self, line: str) -> None:
        self.printed += 1
        self.stream.write(line + "\n")
        self.stream.flush()


def run_interruptibly(main: Coroutine[Any, Any, T], *, grace: float = 0.5) -> tuple[T | None, bool]:
    """Run ``main`` on a new event loop; returns ``(result, interrupted)``.

    On SIGINT the task is cancelled and given ``grace`` seconds to finish what it is committing (a file
    being written); then control returns with ``interrupted=True`` without waiting for worker threads, so
    the caller can report and exit at once. Without an interrupt, the loop is shut down normally.
    """
    loop = asyncio.new_event_loop()
    task = loop.create_task(main)
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread / no signals
        pass
    try:
        try:
            result = loop.run_until_complete(asyncio.wait({task}))
            del result
        except KeyboardInterrupt:  # pragma: no cover - a SIGINT before the handler was installed
            interrupted = True
            task.cancel()
        if interrupted:
            if not task.done():
                loop.run_until_complete(asyncio.wait({task}, timeout=grace))
            with contextlib.suppress(BaseException):
                loop.remove_signal_handler(signal.SIGINT)
            return None, True
        return task.result(), False
    finally:
        if not interrupted:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGINT)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
