"""``kagura ingest --via batch|auto``: media descriptions through the provider's Batch API, ahead of the run.

:func:`describe_ahead` asks the RAG which media its next ingestion would describe
(:meth:`~kagura.core.memory.MultimodalRAG.media_to_describe`), runs their description requests as a durable
job (:class:`~kagura.jobs.Job` with a :class:`~kagura.jobs.BatchVia`: half price, exactly-once submission
across crashes, auto's deadline) and returns the answers by file, for
:meth:`~kagura.core.memory.MultimodalRAG.load_directory`'s ``descriptions``. The job's ledger lives next
to the store; its items are named by file and content, so a rerun after a crash registers the same items
and collects the batches already made instead of submitting them again. Whatever the batch does not answer
(failures, media a batch cannot carry such as video) is described online by the run, as without batches.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagura.core.llm import Attachment, LLMClient
from kagura.jobs._batch_run import BatchVia
from kagura.jobs._job import Job
from kagura.jobs._ledgers import open_ledger

if TYPE_CHECKING:
    from kagura.core.memory import MediaToDescribe, MultimodalRAG

__all__ = ["DescribedAhead", "describe_ahead", "description_body"]

_AUDIO = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3",
          "audio/mp3": "mp3"}  # fmt: skip


@dataclass
class DescribedAhead:
    """What the Batch API described: ``descriptions`` by (relpath, content hash), and the job's counts."""

    descriptions: dict[tuple[str, str], str] = field(default_factory=dict)
    media: int = 0
    batches_created: int = 0
    cost_usd: float | None = None


def _part(attachment: Attachment, provider: str) -> dict[str, Any] | None:
    if attachment.kind == "image":
        if provider == "anthropic":
            source = {"type": "base64", "media_type": attachment.mime_type, "data": attachment.base64()}
            return {"type": "image", "source": source}
        return {"type": "image_url", "image_url": {"url": attachment.data_url()}}
    if attachment.kind == "audio" and attachment.mime_type in _AUDIO and provider != "anthropic":
        audio = {"data": attachment.base64(), "format": _AUDIO[attachment.mime_type]}
        return {"type": "input_audio", "input_audio": audio}
    return None  # video and the rest: described online by the run


def description_body(media: MediaToDescribe, client: LLMClient) -> dict[str, Any] | None:
    """The chat body the online path would send for ``media`` (blocking: reads the file); ``None`` when a
    batch cannot carry it."""
    config = client.config
    part = _part(media.attachment(), config.provider_name)
    if part is None:
        return None
    content = [{"type": "text", "text": media.prompt}, part]
    body: dict[str, Any] = {"model": config.model_name, "messages": [{"role": "user", "content": content}],
                            "temperature": config.temperature}  # fmt: skip
    if config.max_tokens is not None:
        body["max_tokens"] = config.max_tokens
    return body


def _custom_id(key: tuple[str, str]) -> str:
    return "describe-" + hashlib.sha256(f"{key[0]}\0{key[1]}".encode()).hexdigest()[:32]


def _answers(ledger_target: str | Path, name: str, wanted: Mapping[str, tuple[str, str]]) -> dict[Any, str]:
    ledger = open_ledger(ledger_target, name)
    try:
        found: dict[tuple[str, str], str] = {}
        for line in ledger.results():
            record = json.loads(line)
            key = wanted.get(str(record.get("custom_id")))
            response = record.get("response") or {}
            if key is None or record.get("error") or response.get("status_code") != 200:
                continue
            choices = (response.get("body") or {}).get("choices") or [{}]
            text = str((choices[0].get("message") or {}).get("content") or "").strip()
            if text:
                found[key] = text
        return found
    finally:
        ledger.close()


async def describe_ahead(
    rag: MultimodalRAG, directory: str | Path, *, batch: BatchVia, client: LLMClient, ledger: str | Path,
    redescribe: bool = False, default_ignores: bool = True, max_concurrent: int = 5,
) -> DescribedAhead:  # fmt: skip
    """Describe through ``batch`` the media ``rag``'s next ingestion of ``directory`` would describe; the
    answers by file. The job (named after the model and prompt version) is kept in ``ledger``."""
    media = await rag.media_to_describe(
        directory, redescribe=redescribe, default_ignores=default_ignores, max_concurrent=max_concurrent
    )
    result = DescribedAhead(media=len(media))
    if not media:
        return result
    bodies = await asyncio.gather(*(asyncio.to_thread(description_body, m, client) for m in media))
    lines = [{"custom_id": _custom_id(m.key), "body": body, "method": "POST", "url": "/v1/chat/completions"}
             for m, body in zip(media, bodies, strict=True) if body is not None]  # fmt: skip
    if not lines:
        return result
    name = f"describe:{client.config.model_name}:{media[0].prompt_version}"
    job = Job(lines, ledger=ledger, client=client, name=name, batch=batch, max_concurrent=max_concurrent)
    report = await job.run()
    result.batches_created = batch.batches_created
    result.cost_usd = report.cost_usd if report.priced else None
    wanted = {_custom_id(m.key): m.key for m in media}
    result.descriptions = await asyncio.to_thread(_answers, ledger, name, wanted)
    return result
