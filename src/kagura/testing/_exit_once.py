"""``ExitOnceEmbedder``: an embedder whose process dies the first time it embeds (a crashed worker)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagura._checks import check_int
from kagura.testing._wrapped import WrappedEmbedder

if TYPE_CHECKING:
    from kagura.core.memory import Embedder

__all__ = ["ExitOnceEmbedder"]


class ExitOnceEmbedder(WrappedEmbedder):
    """Wraps an embedder (same ``name``, ``id``, ``dimension`` and vectors), except that the first call to
    embed, in whichever process makes it, kills that process at once with ``os._exit`` — no cleanup, no
    exception: what a worker killed by the OOM killer or a lost node looks like.

    "First" is decided across processes by creating ``marker`` (exclusive create): the process that
    creates it dies; every later call, in any process, embeds normally. Pickles with its wrapped
    embedder, so it can be handed to Ray workers. For fault tests of distributed ingestion: a run must
    lose nothing and index nothing twice.

    ``after``: calls each copy of the embedder makes normally before the fatal one (one copy per Ray
    task, as each task unpickles its arguments): with ``after=1`` and one file per embedding batch, the
    worker dies after storing the first file of its batch, in the middle of it.
    """

    def __init__(self, inner: Embedder, marker: str | os.PathLike[str], *, after: int = 0) -> None:
        super().__init__(inner)
        check_int("after", after, 0, hint=" (calls before the fatal one)")
        self.marker = Path(marker)
        self.after = after
        self._calls = 0

    @property
    def fired(self) -> bool:
        """Whether a process has already died on this marker."""
        return self.marker.exists()

    def _maybe_exit(self) -> None:
        self._calls += 1
        if self._calls <= self.after:
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(17)

    def embed(self, texts: Sequence[str]) -> Any:
        self._maybe_exit()
        return self.inner.embed(texts)

    async def aembed(self, texts: Sequence[str]) -> Any:
        self._maybe_exit()
        return await self.inner.aembed(texts)
