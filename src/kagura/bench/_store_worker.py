"""One ingest worker of ``kagura bench store`` (and its test), in its own process: ``python -m
kagura.bench._store_worker ROOT STORE LLM_BASE_URL`` ingests ROOT into STORE with the hash embedder and the
LLM at LLM_BASE_URL describing media, then prints one JSON line (indexed, unchanged, failed, wall seconds)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

__all__ = ["main"]


async def _ingest(root: str, store: str, base_url: str) -> dict[str, Any]:
    from kagura.bench._corpus_worker import HashEmbedder
    from kagura.core.llm import LLMConfig
    from kagura.core.memory import MultimodalRAG

    llm = LLMConfig(model="fake", base_url=base_url, api_key="test", retry_max_delay=0.05)
    rag = MultimodalRAG(store, llm=llm, embedder=HashEmbedder())
    started = time.perf_counter()
    try:
        await rag.load_directory(root, max_concurrent=4)
    finally:
        rag.close()
    report = rag.last_report
    assert report is not None
    return {
        "indexed": len(report.indexed),
        "unchanged": len(report.unchanged),
        "failed": [f"{f.path}: {f.reason}" for f in report.failed],
        "llm_calls": report.llm_calls,
        "wall_s": time.perf_counter() - started,
    }


def main(argv: list[str]) -> int:
    root, store, base_url = argv
    print(json.dumps(asyncio.run(_ingest(root, store, base_url))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
