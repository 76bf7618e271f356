"""Two ingests of one folder at once pay once per media description (issue 10, item 10): claim rows in the
store, with an owner and an expiry, released on completion; a dead owner's claim is taken over."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from _rag_support import images

from kagura.core.memory.stores.sqlite._claims import DescriptionClaims
from kagura.testing import FakeLLMServer

SRC = str(Path(__file__).resolve().parents[3] / "src")

_INGEST = """
import asyncio, json, sys
from kagura.core.llm import LLMConfig
from kagura.core.memory import MultimodalRAG
store, corpus, base_url = sys.argv[1:]
rag = MultimodalRAG(store, llm=LLMConfig(model="fake", base_url=base_url, api_key="test"))
rag.embedder  # loaded before saying ready
print("ready", flush=True)
asyncio.run(rag.load_directory(corpus, max_concurrent=2))
r = rag.last_report
print(json.dumps({"calls": r.llm_calls, "indexed": len(r.indexed), "unchanged": len(r.unchanged)}))
"""


async def _ingest_process(store: Path, corpus: Path, base_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", _INGEST, str(store), str(corpus), base_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": SRC},
    )  # fmt: skip


async def test_two_concurrent_ingests_pay_once_per_description(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    images(corpus, 4)
    store = tmp_path / "s.db"
    both_ready = asyncio.Event()

    async def responder(messages: list[dict[str, object]]) -> str:
        await both_ready.wait()  # no description finishes before both processes are running
        return "a small coloured square"

    async with FakeLLMServer(responder=responder) as server:
        procs = [await _ingest_process(store, corpus, server.base_url) for _ in range(2)]
        try:
            for proc in procs:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 300)
                assert line == b"ready\n", (await proc.communicate())[1].decode()
            both_ready.set()
            outputs = [await asyncio.wait_for(proc.communicate(), 300) for proc in procs]
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        requests = server.stats.requests
    reports = [json.loads(out.decode().splitlines()[-1]) for out, _ in outputs]
    assert all(proc.returncode == 0 for proc in procs), [err.decode() for _, err in outputs]
    assert requests == 4  # one description per image, not one per image per process
    assert sum(r["calls"] for r in reports) == 4
    assert all(r["indexed"] + r["unchanged"] == 4 for r in reports)
    claims = DescriptionClaims(store)
    try:
        assert claims._conn.execute("SELECT COUNT(*) FROM rag_claims").fetchone()[0] == 0  # all released
    finally:
        claims.close()


def test_a_claim_of_a_dead_process_is_taken_over_and_a_live_one_is_respected(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    other = DescriptionClaims(store)
    other.pid = dead.pid  # as if it were the process that has just exited
    other.owner = f"{other.host}:{dead.pid}:x"
    assert other.try_claim("/r/a.png") is None
    mine = DescriptionClaims(store)
    assert mine.try_claim("/r/a.png") is None  # its owner is gone: taken over
    live = DescriptionClaims(store)  # same process, another owner: alive
    assert live.try_claim("/r/a.png") == mine.owner
    mine.release_all()
    assert live.try_claim("/r/a.png") is None
    expired = DescriptionClaims(store, ttl=1e-9)
    assert expired.try_claim("/r/b.png") is None
    assert mine.try_claim("/r/b.png") is None  # past its expiry
    for c in (other, mine, live, expired):
        c.close()


def test_a_worker_claims_in_its_drivers_name_and_checks_liveness_on_its_own_host(tmp_path: Path) -> None:
    """A Ray worker's view (``acting_for`` the driver) shares the driver's claims: what the driver holds is
    the worker's to take, and what the worker takes the driver releases. Whether a claim's process is dead
    is judged on the worker's own machine, even when the driver it acts for is on another one."""
    store = tmp_path / "s.db"
    driver = DescriptionClaims(store)
    driver.host = "driver-host"  # a driver on another machine
    driver.owner = f"driver-host:{driver.pid}:d"
    worker = DescriptionClaims(store).acting_for(driver.identity)
    other = DescriptionClaims(store)  # another run, live, on this machine
    assert driver.try_claim("/r/a.png") is None
    assert worker.try_claim("/r/a.png") is None  # the run's own claim: the worker may take it
    assert other.try_claim("/r/a.png") == driver.owner
    assert worker.try_claim("/r/b.png") is None
    driver.release_all()  # the driver releases what its worker took
    assert other.try_claim("/r/b.png") is None
    other.release_all()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = DescriptionClaims(store)
    gone.pid, gone.owner = dead.pid, f"{gone.host}:{dead.pid}:g"  # a run of this machine that died
    assert gone.try_claim("/r/c.png") is None
    assert worker.try_claim("/r/c.png") is None  # its process is gone here: taken over at once
    for c in (driver, other, gone):
        c.close()
