"""The :class:`Embedder` protocol and the registry of embedders by name.

An embedder turns texts into L2-normalised float32 vectors, one row per text. ``embed`` blocks (call it from
a worker thread or use ``aembed`` from async code). Implementations register a factory under a short name so
configuration can pick one by string::

    emb = get_embedder("local-minilm")                  # the offline default
    emb = get_embedder("openai", model="text-embedding-3-small", base_url=...)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kagura._extras import import_optional

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "Embedder",
    "available_embedders",
    "check_texts",
    "embedder_id",
    "get_embedder",
    "register_embedder",
]


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds texts: ``name``, ``dimension``, blocking ``embed`` and async ``aembed``."""

    @property
    def name(self) -> str:
        """The model's name, e.g. ``"all-MiniLM-L6-v2"``."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into a ``(len(texts), dimension)`` float32 array of unit rows; blocking."""
        ...

    async def aembed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Same as :meth:`embed`, without blocking the event loop."""
        ...


def check_texts(texts: object) -> list[str]:
    """Validate the ``texts`` argument of ``embed``: a sequence of strings (not one bare string)."""
    if isinstance(texts, str | bytes):
        raise TypeError("embed() takes a list of strings; wrap a single text as [text]")
    if not isinstance(texts, Sequence):
        raise TypeError(f"embed() takes a list of strings, not {type(texts).__name__}")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"embed() texts[{i}] is {type(text).__name__}, expected str")
    return out


EmbedderFactory = Callable[..., Embedder]

# name -> "module:attribute" (imported on first use, so the registry itself stays light) or a factory.
_REGISTRY: dict[str, str | EmbedderFactory] = {
    "local-minilm": "kagura.core.memory.embedders._minilm:LocalMiniLMEmbedder",
    "sentence-transformers": "kagura.core.memory.embedders._st:SentenceTransformerEmbedder",
    "openai": "kagura.core.memory.embedders._openai:OpenAIEmbedder",
}
# what get_embedder("local-minilm") without arguments returns: the process's shared MiniLM (lazy, like above)
_SHARED_MINILM = "kagura.core.memory.embedders._minilm:get_default_embedder"


def register_embedder(name: str, factory: EmbedderFactory) -> None:
    """Make ``get_embedder(name, **kwargs)`` call ``factory(**kwargs)``; replaces an existing name."""
    if not name or not isinstance(name, str):
        raise ValueError("embedder name must be a non-empty string")
    if not callable(factory):
        raise TypeError("factory must be callable and return an Embedder")
    _REGISTRY[name] = factory


def available_embedders() -> list[str]:
    """The registered embedder names, sorted."""
    return sorted(_REGISTRY)


def _resolve(entry: str | EmbedderFactory) -> EmbedderFactory:
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        return getattr(import_optional(module_name, f"the {attr} embedder"), attr)
    return entry


def get_embedder(name: str = "local-minilm", **kwargs: Any) -> Embedder:
    """Build the embedder registered as ``name`` with ``kwargs``.

    ``"local-minilm"`` (default, offline numpy MiniLM), ``"sentence-transformers"`` (needs the
    ``kagura[sentence-transformers]`` extra) and ``"openai"`` (any OpenAI-compatible ``/v1/embeddings``).
    ``get_embedder("local-minilm")`` with no arguments returns the shared :func:`get_default_embedder`.
    """
    try:
        entry = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose one of {available_embedders()}") from None
    if name == "local-minilm" and not kwargs and isinstance(entry, str):
        return _resolve(_SHARED_MINILM)()
    return _resolve(entry)(**kwargs)


def embedder_id(embedder: Embedder) -> str:
    """The string that identifies which vectors ``embedder`` makes: its ``id`` when it has one (distinct
    per backend of one model), else its ``name``. Stored with every vector and in the store's record."""
    ident = getattr(embedder, "id", None)
    return ident if isinstance(ident, str) and ident else embedder.name
