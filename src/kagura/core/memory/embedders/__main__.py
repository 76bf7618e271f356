"""Measure the local embedder and exact search: ``python -m kagura.core.memory.embedders [--quick]``.

Prints the model load time, throughput on short sentences (batched, and one text per call), and the exact
top-10 cosine search latency over 100k x 384 random unit vectors (with and without a 30 % mask).
Numbers are wall-clock on this machine: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kagura.core.memory.embedders._minilm import LocalMiniLMEmbedder
from kagura.core.memory.stores._vectors import top_k_cosine

_WORDS = (
    "the a quick brown fox jumps over lazy dog search index file memory router agent query answer "
    "translate weather report invoice meeting schedule python code database vector"
).split()


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(_WORDS, size=int(rng.integers(5, 12)))).capitalize() + "." for _ in range(n)]


def _best(fn: object, repeat: int) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(quick: bool = False) -> dict[str, float]:
    """Run the measurements, print them, and return them."""
    start = time.perf_counter()
    emb = LocalMiniLMEmbedder()
    load_s = time.perf_counter() - start
    n = 64 if quick else 512
    texts = _sentences(n)
    emb.embed(texts[:16])  # warm-up
    batched = _best(lambda: emb.embed(texts), 1 if quick else 3)
    singles = _best(lambda: [emb.embed([t]) for t in texts[: n // 4]], 1) * 4
    rows = 10_000 if quick else 100_000
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((rows, 384), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[7] + 0.1 * rng.standard_normal(384, dtype=np.float32)
    mask = rng.random(rows) < 0.3
    search = _best(lambda: top_k_cosine(matrix, query, 10), 5 if quick else 20)
    masked = _best(lambda: top_k_cosine(matrix, query, 10, mask=mask), 5 if quick else 20)
    results = {
        "load_s": load_s,
        "sentences_per_s_batched": n / batched,
        "sentences_per_s_one_per_call": n / singles,
        "search_ms": search * 1e3,
        "search_masked_ms": masked * 1e3,
        "search_rows": float(rows),
    }
    print(f"model load            {load_s * 1e3:8.1f} ms")
    print(f"embed, batched        {n / batched:8.1f} sentences/s  ({n} short sentences)")
    print(f"embed, one per call   {n / singles:8.1f} sentences/s")
    print(f"search top-10, {rows} x 384         {search * 1e3:6.2f} ms")
    print(f"search top-10, 30% mask               {masked * 1e3:6.2f} ms")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    main(quick=parser.parse_args().quick)
