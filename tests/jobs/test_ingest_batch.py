"""``kagura ingest --via batch|auto``: media described through the fake server's Batch API before the run,
stored as online descriptions are (same text, same manifest), with no online call; a kill -9 while the
batch runs and the same command again submit nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kagura.core.llm import LLMClient, LLMConfig
from kagura.core.llm.batches import AnthropicBatchBackend, OpenAIBatchBackend, PollSchedule
from kagura.core.memory import MultimodalRAG
from kagura.jobs import BatchVia, describe_ahead
from kagura.testing import BatchSettings, BatchTimings, FakeLLMProcess, FakeLLMServer

FAST = PollSchedule(first=0.05, factor=1.0, max_delay=0.05, warmup=0.0, floor=0.05)
N = 4


def _images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (8 + i, 8), (i * 40 % 256, 90, 200)).save(folder / f"pic{i}.png", format="PNG")
    (folder / "notes.md").write_text("# Notes\n\nplain text, no LLM needed\n")
    return folder


def describe(messages: list[dict[str, Any]]) -> str:
    """What the model saw: the file's name from the prompt, and the kinds of the attached parts."""
    content = messages[-1]["content"]
    parts = content if isinstance(content, list) else [{"type": "text", "text": str(content)}]
    text = " ".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
    found = re.search(r"File name: (\S+)", text)
    kinds = "+".join(sorted(str(p.get("type")) for p in parts if p.get("type") != "text"))
    return f"a lighthouse painting named {found.group(1) if found else '?'} seen as {kinds or 'nothing'}"


async def _texts(rag: MultimodalRAG) -> dict[str, str]:
    return {r.relpath: r.text for r in await rag.query("lighthouse painting", top_k=20, mode="keyword")}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_media_described_through_a_batch_are_stored_as_online_descriptions(
    tmp_path: Path, kind: str
) -> None:
    corpus = _images(tmp_path / "corpus", N)
    timings = BatchTimings(in_progress=0.2)
    async with FakeLLMServer(responder=describe, batches=BatchSettings(timings)) as server:
        provider = (
            {"provider": "anthropic", "base_url": server.base_url.removesuffix("/v1")}
            if kind == "anthropic"
            else {"base_url": server.base_url}
        )
        if kind == "anthropic":
            pytest.importorskip("anthropic")
        config = LLMConfig(model="fake", api_key="test", **provider)  # type: ignore[arg-type]
        online = MultimodalRAG(tmp_path / "online.db", llm=config)
        await online.load_directory(corpus)
        online_calls = server.stats.chat_requests + server.stats.messages_requests
        assert online_calls == N

        rag = MultimodalRAG(tmp_path / "batch.db", llm=config)
        backend: Any = (
            OpenAIBatchBackend(server.base_url, "test")
            if kind == "openai"
            else AnthropicBatchBackend(server.base_url.removesuffix("/v1"), "test")
        )
        async with LLMClient(config) as client:
            via = BatchVia("batch", backend, schedule=FAST)
            ahead = await describe_ahead(
                rag, corpus, batch=via, client=client, ledger=tmp_path / "d.ledger.db"
            )
            assert (ahead.media, len(ahead.descriptions), ahead.batches_created) == (N, N, 1)
            docs = await rag.load_directory(corpus, descriptions=ahead.descriptions)
            assert server.stats.chat_requests + server.stats.messages_requests == online_calls  # none more
            report = rag.last_report
            assert report is not None and (report.described_ahead, report.llm_calls) == (N, 0)
            assert sorted(d.relpath for d in docs if d.described) == [f"pic{i}.png" for i in range(N)]
            assert await _texts(rag) == await _texts(online)  # the same stored text as online
            seen = {text.split(" seen as ")[1].split()[0] for text in (await _texts(rag)).values()}
            assert seen == {"image_url" if kind == "openai" else "nothing"}  # the fake Anthropic: text only
            again = await describe_ahead(rag, corpus, batch=BatchVia("batch", backend, schedule=FAST),
                                         client=client, ledger=tmp_path / "d.ledger.db")  # fmt: skip
            assert (again.media, again.batches_created) == (0, 0)  # unchanged media: nothing to describe
            await backend.aclose()
        online.close()
        rag.close()


def _ingest(corpus: Path, store: Path, server: FakeLLMProcess, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kagura.cli", "ingest", str(corpus), "--store", str(store), "--base-url",
            server.base_url, "--model", "fake", "--api-key", "test", "--json", *extra]  # fmt: skip


async def _batches(server: FakeLLMProcess) -> list[dict[str, Any]]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(server.base_url + "/batches?limit=100") as response:
            return list((await response.json())["data"])


async def test_kagura_ingest_via_batch_killed_while_the_batch_runs_resumes_without_submitting_twice(
    tmp_path: Path,
) -> None:
    corpus = _images(tmp_path / "corpus", N)
    store = tmp_path / "s.db"
    async with FakeLLMProcess(batch_args=("--batch-seconds", "3")) as server:
        args = _ingest(corpus, store, server, "--via", "batch", "--deadline", "1h")
        first = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                     stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
        while not await _batches(server):  # noqa: ASYNC110 - polling another process's server
            await asyncio.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        report = json.loads(out)
        assert report["described_ahead"] == N and report["llm_calls"] == 0 and not report["failed"]
        [batch] = await _batches(server)  # the killed run's batch, collected: none made twice
        assert batch["request_counts"]["completed"] == N
        assert (await server.stats())["chat_requests"] == 0
        assert f"{N} of {N} media described through the Batch API" in err.decode()


async def test_ingest_via_batch_refuses_bad_combinations_before_anything(tmp_path: Path) -> None:
    corpus = _images(tmp_path / "corpus", 1)
    for extra, message in [
        (["--via", "batch", "--offline"], "describes media with an LLM"),
        (["--via", "sometimes"], "--via must be one of online, batch, auto"),
        (["--deadline", "1h"], "--deadline applies to --via batch or auto only"),
        (["--via", "auto", "--deadline", "soon"], "--deadline: a duration is"),
    ]:
        args = [sys.executable, "-m", "kagura.cli", "ingest", str(corpus), "--store", str(tmp_path / "s.db"),
                "--base-url", "http://127.0.0.1:9/v1", "--model", "fake", *extra]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)  # fmt: skip
        _, err = await proc.communicate()
        assert proc.returncode == 2 and message in err.decode() and "Traceback" not in err.decode()
