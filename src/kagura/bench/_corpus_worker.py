"""One measured ingest in a fresh process, so its peak RSS is its own: ``python -m
kagura.bench._corpus_worker ROOT STORE EMBEDDER`` prints one JSON line (wall seconds, files, chunks,
``peak_rss_mb``, see :func:`peak_rss_mb`).

``EMBEDDER`` is ``default`` (the local embedder every user gets) or ``hash`` (:class:`HashEmbedder`: vectors
from a hash of each text, no model), which isolates the pipeline's own memory when the corpus grows.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["HashEmbedder", "main", "peak_rss_mb"]


class HashEmbedder:
    """384-dim unit vectors from the sha256 of each text: same text, same vector; no model, no meaning."""

    name = "bench-hash-384"
    dimension = 384

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import hashlib

        rows = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(
                hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little"
            )
            row = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            rows[i] = row / np.linalg.norm(row)
        return rows

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return await asyncio.to_thread(self.embed, texts)


async def _ingest(root: str, store: str, embedder: str) -> dict[str, Any]:
    from kagura.core.memory import MultimodalRAG, get_default_embedder

    chosen: Any = HashEmbedder() if embedder == "hash" else get_default_embedder()
    rag = MultimodalRAG(store, embedder=chosen)
    started = time.perf_counter()
    await rag.load_directory(root, max_concurrent=4)
    wall = time.perf_counter() - started
    report = rag.last_report
    assert report is not None
    counts = rag.store.counts()
    rag.close()
    return {
        "wall_s": wall,
        "files": len(report.indexed),
        "failed": len(report.failed),
        "chunks": counts["chunks"],
        "chunks_embedded": report.chunks_embedded,
        "embed_s": report.timings.get("embed", 0.0),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    On Linux, ``VmHWM`` from ``/proc/self/status``: it starts afresh at ``exec``, whereas ``ru_maxrss``
    keeps the high-water mark of the forked parent (a worker spawned by a 250 MB bench would never report
    less than 250 MB). Elsewhere, ``getrusage`` (bytes on macOS, KiB otherwise).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def main(argv: list[str]) -> int:
    root, store, embedder = argv
    result = asyncio.run(_ingest(root, store, embedder))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
