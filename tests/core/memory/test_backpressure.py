"""Bounded memory: when embedding stalls, extraction stops after a bounded number of files."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from kagura.core.memory import MultimodalRAG
from kagura.core.memory.ingestion._pipeline import QUEUE_FILES
from kagura.loaders import Extracted, FileType, extractor_version, register_extractor
from kagura.loaders._text import extract_text


class StuckEmbedder:
    """Never answers: the first call waits forever (until cancelled)."""

    name, dimension = "stuck", 4

    def __init__(self) -> None:
        self.called = asyncio.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("the pipeline embeds with aembed")

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.fixture
def counted_text_extractions() -> Iterator[list[int]]:
    """Count text extractions through the public extractor registry; the original is restored after."""
    count = [0]
    lock = threading.Lock()
    version = extractor_version(FileType.TEXT)

    def counting(path: Path, file_type: FileType) -> Extracted:
        with lock:
            count[0] += 1
        return extract_text(path, file_type)

    register_extractor(FileType.TEXT, version=version)(counting)
    try:
        yield count
    finally:
        register_extractor(FileType.TEXT, version=version)(extract_text)


async def test_a_stalled_embedder_stops_extraction_after_a_bounded_number_of_files(
    tmp_path: Path, counted_text_extractions: list[int]
) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(150):
        (corpus / f"note{i:03}.txt").write_text(f"note {i} about something", encoding="utf-8")
    stuck = StuckEmbedder()
    rag = MultimodalRAG(tmp_path / "s.db", embedder=stuck, embed_batch_size=1)  # type: ignore[arg-type]
    run = asyncio.create_task(rag.load_directory(corpus, max_concurrent=2))
    await stuck.called.wait()
    # Wait until extraction is quiet (unchanged over several polls), however slow the machine is.
    seen, quiet = -1, 0
    while quiet < 5:
        await asyncio.sleep(0.05)
        quiet = quiet + 1 if counted_text_extractions[0] == seen else 0
        seen = counted_text_extractions[0]
    # embedding 1 + waiting for the writer QUEUE_FILES + the stream's buffer and workers (2 + 2) + one
    # being handed over: everything else waits unread (an unbounded queue would have taken all 150).
    assert seen <= 1 + QUEUE_FILES + 2 + 2 + 1, seen
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    rag.close()
