"""Two ingest processes on one PostgreSQL store and one tree: every file stored once, none lost, each image
described once (the description claims live in PostgreSQL too)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _rag_support import png, write

from kagura.core.memory.stores.postgres import PostgresRAGStore
from kagura.testing import FakeLLMServer


async def _worker(root: Path, url: str, base_url: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kagura.bench._store_worker", str(root), url, base_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_two_processes_index_each_file_once_and_describe_each_image_once(
    tmp_path: Path, postgres_url: str
) -> None:
    root = tmp_path / "tree"
    for i in range(12):
        write(root / f"notes/n{i:02}.md", f"# Note {i}\n\n" + f"Paragraph about subject {i}. " * 40)
    for i in range(8):
        png(root / f"pics/p{i:02}.png", i)
    async with FakeLLMServer() as server:
        first, second = await asyncio.gather(
            _worker(root, postgres_url, server.base_url), _worker(root, postgres_url, server.base_url)
        )
        described = server.stats.chat_requests
    assert first["failed"] == [] and second["failed"] == []
    store = PostgresRAGStore(postgres_url)
    docs = store.documents_under(str(root.resolve()))
    paths = [d.path for d in docs]
    assert len(paths) == len(set(paths)) == 20  # no duplicates, none lost
    assert all(d.described for d in docs if d.path.endswith(".png"))
    assert described == 8  # each image paid for once, by one of the two workers
    counts = store.counts()
    assert counts["chunks"] == counts["vectors"] == sum(d.chunks for d in docs)  # no orphan rows
    store.close()


def test_stores_opened_at_once_on_a_fresh_database_all_open(postgres_url: str) -> None:
    # Regression: every opener ran CREATE EXTENSION IF NOT EXISTS vector on its own, and on a fresh
    # database all but one lost the race on pg_extension's unique name (a StoreError for a valid URL).
    openers = 8
    barrier = threading.Barrier(openers)

    def open_store() -> int:
        barrier.wait()
        store = PostgresRAGStore(postgres_url)
        try:
            return store.counts()["documents"]
        finally:
            store.close()

    with ThreadPoolExecutor(openers) as pool:
        assert list(pool.map(lambda _: open_store(), range(openers))) == [0] * openers
