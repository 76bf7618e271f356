"""Describe a media file (image, audio, video) with the multimodal LLM: one call per file, with retries.

The prompt is versioned: bumping ``PROMPT_VERSION`` (or changing the model) makes the next ingestion run
re-describe every media file, because both are part of the manifest entry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kagura.core.llm import Attachment, LLMClient, LLMConfig, LLMResponse
from kagura.core.parallel import RetryPolicy, call_with_retry
from kagura.loaders import display_name, read_regular

__all__ = ["PROMPT_VERSION", "Description", "describe_media", "description_prompt", "retry_policy_for"]

PROMPT_VERSION = "1"


def retry_policy_for(config: LLMConfig) -> RetryPolicy:
    """The scheduler retry policy matching the config's ``max_attempts`` and ``retry_max_delay``."""
    return RetryPolicy(max_attempts=config.max_attempts, max_delay=config.retry_max_delay)


_PROMPTS: dict[str, str] = {
    "image": "Describe this image for a search index: subjects, setting, any visible text, colours, style.",
    "audio": "Transcribe this audio clip; if it is not speech, describe the sounds and music.",
    "video": "Describe this video for a search index: scenes, people, actions, on-screen text, speech.",
}
_FALLBACK_PROMPT = "Describe this file's content for a search index."


def description_prompt(media_kind: str, relpath: str, metadata_text: str) -> str:
    """The prompt sent with the attachment: the task for its kind, plus the file name and local metadata."""
    task = _PROMPTS.get(media_kind, _FALLBACK_PROMPT)
    return f"{task}\nFile name: {relpath}\nKnown metadata: {metadata_text}\nAnswer in plain text."


def _load_attachment(path: Path, mime_type: str | None) -> Attachment:
    """The file as an attachment, opened without blocking (a FIFO swapped in is refused).

    ``mime_type``: the type sniffed from the content by the extractor; the extension is used only when
    that is unknown, so a photo saved without an extension is still sent as what it is.
    """
    if mime_type is None or mime_type.endswith("/unknown"):
        guessed = mimetypes.guess_type(path.name)[0]
        mime_type = guessed or mime_type
    if mime_type is None:
        raise ValueError(f"cannot tell the MIME type of {display_name(path.name)!r}")
    return Attachment.from_bytes(read_regular(path), mime_type, name=display_name(path.name))


@dataclass(frozen=True, slots=True)
class Description:
    """The LLM's description of one file, how many attempts it took, and whether the LLM cache answered."""

    text: str
    attempts: int
    cached: bool = False


async def describe_media(
    path: Path,
    media_kind: str,
    relpath: str,
    metadata_text: str,
    client: LLMClient,
    retry: RetryPolicy | None = None,
    on_attempt: Callable[[], None] | None = None,
    *,
    mime_type: str | None = None,
) -> Description:
    """One description call for ``path``; raises ``KaguraError`` once retries are exhausted.

    Retryable failures (429 honouring Retry-After, 5xx, timeouts) are retried by the scheduler's
    ``call_with_retry`` per ``retry`` (default: from the client's config), each attempt a single request
    through ``client`` (its budget, adaptive control, cache and spend cap), and
    ``on_attempt`` is called before every request so failed attempts are counted too. ``mime_type`` (the
    type sniffed from the content) is sent instead of the extension's guess when known.
    """
    attachment = await asyncio.to_thread(_load_attachment, path, mime_type)
    prompt = description_prompt(media_kind, relpath, metadata_text)
    config = client.config
    single = dataclasses.replace(config, max_attempts=1)  # the retries happen here, counted
    attempts = 0

    async def once() -> LLMResponse:
        nonlocal attempts
        attempts += 1
        if on_attempt is not None:
            on_attempt()
        return await client.complete(prompt, [attachment], config=single)

    response = await call_with_retry(once, retry or retry_policy_for(config))
    return Description(response.text.strip(), attempts, bool(getattr(response, "cached", False)))
