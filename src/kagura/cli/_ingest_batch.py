"""``kagura ingest --via batch|auto --deadline D``: media described through the Batch API before the run.

The description job's ledger sits next to the store (``STORE.describe.ledger.db``; a PostgreSQL store
keeps it in its database), so a crash and the same command again collect the batches already made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import typer

from kagura.cli._errors import fail

__all__ = ["check_via", "describe_then_ingest"]

_VIA = ("online", "batch", "auto")


def check_via(via: str, deadline: str | None, llm: Any, engine: Any) -> float | None:
    """The deadline in seconds for ``--via batch|auto`` (None for online); exit 2 on a bad combination."""
    if via not in _VIA:
        raise fail(f"--via must be one of {', '.join(_VIA)}, got {via!r}", code=2)
    if via == "online":
        if deadline is not None:
            raise fail("--deadline applies to --via batch or auto only", code=2)
        return None
    if llm is None:
        raise fail(f"--via {via} describes media with an LLM: configure one (--base-url, --model)", code=2)
    if not getattr(engine, "in_process", False):
        raise fail(f"--via {via} works with --engine local only", code=2)
    from kagura.jobs import parse_duration
    from kagura.jobs._deadline import DEFAULT_DEADLINE

    try:
        return DEFAULT_DEADLINE if deadline is None else parse_duration(deadline)
    except ValueError as exc:
        raise fail(f"--deadline: {exc}", code=2) from None


def ledger_for(store: Any) -> str:
    """Where the description job's ledger lives for ``store`` (a path or a ``postgresql://`` URL)."""
    return store if isinstance(store, str) else str(Path(store)) + ".describe.ledger.db"


async def describe_then_ingest(
    rag: Any, directory: Path, *, via: str, deadline: float, api_key: str | None, store: Any,
    redescribe: bool, default_ignores: bool, max_concurrent: int,
    ingest: Callable[[dict[Any, str]], Awaitable[Any]],
) -> Any:  # fmt: skip
    """Describe the run's media through the Batch API, then ``ingest(descriptions)``."""
    from kagura.cli._batch_setup import batch_via
    from kagura.core.llm import LLMClient
    from kagura.jobs import describe_ahead

    batch = batch_via(SimpleNamespace(config=rag.llm), via, deadline, None, api_key)
    client = LLMClient(rag.llm)
    try:
        ahead = await describe_ahead(
            rag, directory, batch=batch, client=client, ledger=ledger_for(store), redescribe=redescribe,
            default_ignores=default_ignores, max_concurrent=max_concurrent,
        )  # fmt: skip
    finally:
        await client.aclose()
        await batch.backend.aclose()
    typer.echo(
        f"batch: {len(ahead.descriptions)} of {ahead.media} media described through the Batch API"
        f" ({ahead.batches_created} batches created this run); the rest are described online",
        err=True,
    )
    return await ingest(ahead.descriptions)
