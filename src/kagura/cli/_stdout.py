"""``--json`` output that stays parseable: while a command runs, stdout belongs to its JSON alone.

Libraries print to ``sys.stdout`` on their own: Ray's driver prints a dead worker's lines ("A worker died
or was killed ...", colored) from a background thread whatever ``log_to_driver`` says. Inside
:func:`json_stdout`, ``sys.stdout`` is the process's stderr, so such lines reach the terminal there, and
the command writes its JSON to the stream it is given (the real stdout).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO

__all__ = ["json_stdout"]


@contextlib.contextmanager
def json_stdout(enabled: bool = True) -> Iterator[TextIO]:
    """Yield the real stdout; while inside, anything else printed to ``sys.stdout`` goes to stderr.

    ``enabled=False`` (no ``--json``) changes nothing and yields ``sys.stdout``.
    """
    real = sys.stdout
    if not enabled:
        yield real
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield real
