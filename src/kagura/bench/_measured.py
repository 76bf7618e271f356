"""Run a module as ``__main__`` and write its own peak RSS and CPU seconds to ``$KAGURA_BENCH_RUSAGE`` at
exit (``kagura bench jobs`` measures each client process alone this way).

    KAGURA_BENCH_RUSAGE=/tmp/x.json python -m kagura.bench._measured kagura.cli run ...
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import runpy
import sys


def _dump() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["KAGURA_BENCH_RUSAGE"], "w", encoding="utf-8") as handle:
        json.dump({"maxrss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}, handle)


if __name__ == "__main__":
    atexit.register(_dump)
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
