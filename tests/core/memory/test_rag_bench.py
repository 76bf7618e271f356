"""Smoke test of ``kagura.bench.ingest``: the rows are produced and the re-run makes no LLM call.

(Speed is not asserted here: the benchmark prints it.)
"""

from __future__ import annotations

from pathlib import Path

from kagura.bench.ingest import _ingest_media
from kagura.core.memory import OpenAIEmbedder
from kagura.testing import FakeLLMServer


async def test_media_row_shape_and_incremental_rerun(tmp_path: Path) -> None:
    async with FakeLLMServer() as embed_server:
        embedder = OpenAIEmbedder("fake-embed", base_url=embed_server.base_url, api_key="test")
        row = await _ingest_media(4, 0.01, tmp_path, embedder, "loopback")
    assert row.items == 4 and row.ideal_s == 0.01
    assert row.serial_s > 0 and row.parallel_s > 0
    assert row.extra["rerun_llm_calls"] == 0
    assert row.extra["ideal_serial_s"] == 0.04
