"""``CountingEmbedder``: any embedder, with a count of the texts it was asked to embed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kagura.testing._wrapped import WrappedEmbedder

if TYPE_CHECKING:
    from kagura.core.memory import Embedder

__all__ = ["CountingEmbedder"]


class CountingEmbedder(WrappedEmbedder):
    """Wraps an embedder (same ``name``, ``id``, ``dimension`` and vectors) and records every call:
    ``calls`` (batches) and ``texts`` (every text embedded, in order). ``reset()`` clears both.

    Proves what an incremental index re-embeds, e.g. ``assert len(counting.texts) <= 3`` after an edit.
    """

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.calls = 0
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def _count(self, texts: Sequence[str]) -> None:
        with self._lock:
            self.calls += 1
            self.texts.extend(texts)

    def embed(self, texts: Sequence[str]) -> Any:
        self._count(texts)
        return self.inner.embed(texts)

    async def aembed(self, texts: Sequence[str]) -> Any:
        self._count(texts)
        return await self.inner.aembed(texts)

    def reset(self) -> None:
        with self._lock:
            self.calls = 0
            self.texts.clear()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (to a Ray worker, say): the copy counts on its own, from what was counted so far."""
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
