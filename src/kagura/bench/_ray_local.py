"""``python -m kagura.bench._ray_local CORPUS STORE``: one local-engine ingest, in a fresh process.

``kagura bench ray`` runs its local side here so the numeric library's thread count can be set for the
run (``OMP_NUM_THREADS`` is read when numpy loads): Ray gives each worker one thread, and on a loaded
machine a many-threaded local run can be much slower than a one-threaded one. Prints the ingest's
seconds (model load excluded).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from kagura.core.memory import MultimodalRAG, get_default_embedder


def main(corpus: Path, store: Path) -> None:
    get_default_embedder()
    rag = MultimodalRAG(store)
    started = time.perf_counter()
    asyncio.run(rag.load_directory(corpus))
    elapsed = time.perf_counter() - started
    report = rag.last_report
    rag.close()
    if report is None or not report.completed or report.failed:
        raise SystemExit(f"local ingest failed: {report and report.failed}")
    print(f"{elapsed:.6f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
