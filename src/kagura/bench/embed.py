"""``kagura bench embed``: local embedding backends side by side on real text, against today's numpy path.

The texts are ~800-character chunks cut at line boundaries from the Python standard library's own sources
(``Lib/`` of the running interpreter: code, docstrings and comments written by others, on every machine).
Every option embeds the same chunks; the options take turns within each round (numpy, then each option,
then numpy again...) so a machine shared with other work slows them alike and the ratio stays fair.

Reported per option: chunks/s, the speed-up over the numpy float32 path, and the cosine of its vectors to
the numpy float32 ones (min and mean over the chunks; the quality gate is min >= 0.99), plus CPU seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kagura.bench._corpus_tree import stdlib_root
from kagura.bench._report import BenchRow

__all__ = ["EmbedOption", "real_chunks", "run"]

QUALITY_GATE = 0.99
SPEEDUP_GOAL = 3.0
"""Issue 13: the default local embedder (ONNX float32) at >= 3x the numpy path's chunks/s."""


def real_chunks(n: int, *, size: int = 800, root: Path | None = None) -> list[str]:
    """``n`` chunks of about ``size`` characters from the standard library sources, spread over many files.

    Deterministic for one Python version: files in sorted order, every k-th chunk so the sample crosses
    the whole library rather than its first few modules.
    """
    lib = root or stdlib_root()
    chunks: list[str] = []
    for path in sorted(lib.rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        current = ""
        for line in text.splitlines(keepends=True):
            current += line
            if len(current) >= size:
                chunks.append(current)
                current = ""
        if len(current.strip()) > size // 4:
            chunks.append(current)
    if len(chunks) < n:
        raise ValueError(f"only {len(chunks)} chunks under {lib}, asked for {n}")
    step = len(chunks) // n
    return [chunks[i * step] for i in range(n)]


@dataclass
class EmbedOption:
    """One way to embed: a label, the embedder id it records in stores, and the blocking call."""

    label: str
    embedder_id: str
    embed: Callable[[list[str]], np.ndarray]
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    vectors: np.ndarray | None = None


def _options(*, unbucketed: bool = True) -> list[EmbedOption]:
    from kagura.core.memory.embedders._minilm import LocalMiniLMEmbedder, onnx_available

    numpy_emb = LocalMiniLMEmbedder(backend="numpy")

    def groups_of_16(texts: list[str]) -> np.ndarray:
        # Input-order groups of 16, each padded to its longest text: what length sorting saves.
        return np.concatenate([numpy_emb.embed(texts[i : i + 16]) for i in range(0, len(texts), 16)])

    options = [EmbedOption("numpy fp32 (today)", numpy_emb.name, numpy_emb.embed)]
    if unbucketed:
        options.append(EmbedOption("numpy fp32, no length buckets", numpy_emb.name, groups_of_16))
    if onnx_available():
        for backend, threads in (("onnx", None), ("onnx-int8", 1), ("onnx-int8", None)):
            emb = LocalMiniLMEmbedder(backend=backend, threads=threads)
            label = f"{backend}{' fp32' if backend == 'onnx' else ''}, {emb.workers} thread(s)"
            options.append(EmbedOption(label, emb.name, emb.embed))
    return options


def _measure(options: list[EmbedOption], texts: list[str], rounds: int) -> None:
    for option in options:
        option.embed(texts[:2])  # warm-up: first-call allocations, thread pools
    for _ in range(rounds):
        for option in options:
            wall, cpu = time.perf_counter(), time.process_time()
            option.vectors = option.embed(texts)
            option.seconds += time.perf_counter() - wall
            option.cpu_seconds += time.process_time() - cpu


def measure(n_chunks: int, rounds: int, *, unbucketed: bool = True) -> list[BenchRow]:
    """Build the options, measure them interleaved, and compare each with the first (numpy fp32)."""
    texts = real_chunks(n_chunks)
    options = _options(unbucketed=unbucketed)
    _measure(options, texts, rounds)
    base = options[0]
    assert base.vectors is not None
    rows = []
    for option in options:
        assert option.vectors is not None
        cosines = np.sum(option.vectors * base.vectors, axis=1)
        per_s = n_chunks * rounds / option.seconds
        rows.append(
            BenchRow(
                operation=f"{option.label} vs numpy fp32",
                items=n_chunks,
                serial_s=base.seconds / rounds,
                parallel_s=option.seconds / rounds,
                extra={
                    "chunks_per_s": round(per_s, 2),
                    "numpy_chunks_per_s": round(n_chunks * rounds / base.seconds, 2),
                    "cpu_s_per_round": round(option.cpu_seconds / rounds, 2),
                    "cosine_min": round(float(cosines.min()), 5),
                    "cosine_mean": round(float(cosines.mean()), 5),
                    "quality_gate": bool(cosines.min() >= QUALITY_GATE),
                    "embedder_id": option.embedder_id,
                },
                checks=[("cosine_min", ">=", QUALITY_GATE)]
                + ([("speedup", ">=", SPEEDUP_GOAL)] if option.label.startswith("onnx fp32") else []),
            )
        )
    return rows


async def run(latency: float = 0.15, quick: bool = False, full: bool = False) -> list[BenchRow]:
    """The ``kagura bench`` entry point (``latency`` is unused: nothing here talks to an LLM).

    Quick: 6 chunks, one round; default: 8 chunks, one round (a part of ``kagura bench``'s 90 s); full:
    160, three. The numpy path without length buckets is measured with ``full`` only (it is the slowest).
    """
    del latency
    n_chunks, rounds = (6, 1) if quick else (160, 3) if full else (8, 1)
    return await asyncio.to_thread(measure, n_chunks, rounds, unbucketed=full)
