"""``WrappedEmbedder``: the base of the test embedders that wrap a real one and pass its identity on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kagura.core.memory import Embedder

__all__ = ["WrappedEmbedder"]


class WrappedEmbedder:
    """Same ``name``, ``id`` and ``dimension`` as ``inner``: a store sees the wrapped embedder's vectors."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def id(self) -> str:
        ident = getattr(self.inner, "id", None)
        return ident if isinstance(ident, str) and ident else self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension
